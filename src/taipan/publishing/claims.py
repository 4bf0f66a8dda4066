"""Which trusted publisher a verified OIDC token stands for: pure claim matching, no I/O.

Each provider's identity is checked on the claims its tokens carry:

- GitHub Actions: ``repository`` and ``repository_owner`` (case-insensitive, as GitHub
  names are), ``job_workflow_ref`` (``owner/repo/.github/workflows/<file>@<ref>``; the
  file name exactly) and, when the publisher names one, ``environment``.
- GitLab CI: ``project_path`` and ``namespace_path`` (case-insensitive),
  ``ci_config_ref_uri`` (``<gitlab host>/<project path>//<config path>@<ref>``) and,
  when named, ``environment`` (exactly).
- Google Cloud: ``email`` (with ``email_verified``) and/or ``sub``.

Comparing ``job_workflow_ref`` rather than ``workflow`` (a display name anyone can put
in any file) is what ties a token to one workflow file of one repository.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from taipan.errors import InvalidInput
from taipan.publishing.oidc.verify import VerifiedToken, normalize_issuer

MAX_IDENTITY = 255
GITHUB_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
WORKFLOW_FILE_RE = re.compile(r"^[^/\s@]+\.ya?ml$")
GITLAB_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
GITLAB_PROJECT_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")
CONFIG_PATH_RE = re.compile(r"^[^/\s@][^\s@]*\.ya?ml$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SUBJECT_RE = re.compile(r"^[A-Za-z0-9._:-]{1,255}$")
ENVIRONMENT_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


@dataclass(frozen=True)
class PublisherSpec:
    """One trusted publisher. For GitLab, owner is the namespace, repository the project and
    workflow the CI config path; Google uses only email and subject."""

    provider: str
    issuer: str
    owner: str | None = None
    repository: str | None = None
    workflow: str | None = None
    environment: str | None = None
    email: str | None = None
    subject: str | None = None


def validated(spec: PublisherSpec) -> PublisherSpec:
    """The spec with its fields trimmed and checked for its provider; InvalidInput says what is wrong."""
    spec = PublisherSpec(
        spec.provider.strip().lower(),
        spec.issuer,
        *(_trim(getattr(spec, f)) for f in ("owner", "repository", "workflow", "environment", "email", "subject")),
    )
    if spec.environment is not None and not ENVIRONMENT_RE.match(spec.environment):
        raise InvalidInput("the environment name must be 1 to 255 printable characters")
    if spec.provider == "github":
        return _github_spec(spec)
    if spec.provider == "gitlab":
        return _gitlab_spec(spec)
    if spec.provider == "google":
        return _google_spec(spec)
    raise InvalidInput(f"unknown provider {spec.provider!r}: use github, gitlab or google")


def _trim(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _github_spec(spec: PublisherSpec) -> PublisherSpec:
    _only(spec, "owner", "repository", "workflow", "environment")
    workflow = (spec.workflow or "").removeprefix(".github/workflows/")
    if not spec.owner or not GITHUB_OWNER_RE.match(spec.owner):
        raise InvalidInput("a GitHub publisher needs the repository owner (a user or organisation name)")
    if not spec.repository or not GITHUB_REPO_RE.match(spec.repository):
        raise InvalidInput("a GitHub publisher needs the repository name")
    if not WORKFLOW_FILE_RE.match(workflow):
        raise InvalidInput("a GitHub publisher needs the workflow file name, e.g. release.yml")
    return replace(spec, workflow=workflow)


def _gitlab_spec(spec: PublisherSpec) -> PublisherSpec:
    _only(spec, "owner", "repository", "workflow", "environment")
    if not spec.owner or not GITLAB_NAMESPACE_RE.match(spec.owner) or len(spec.owner) > 255:
        raise InvalidInput("a GitLab publisher needs the project's namespace (group/subgroup or user)")
    if not spec.repository or not GITLAB_PROJECT_RE.match(spec.repository):
        raise InvalidInput("a GitLab publisher needs the project name")
    path = spec.workflow or ""
    if not CONFIG_PATH_RE.match(path) or ".." in path.split("/") or "//" in path or len(path) > 255:
        raise InvalidInput("a GitLab publisher needs the CI config path in the project, e.g. .gitlab-ci.yml")
    return spec


def _google_spec(spec: PublisherSpec) -> PublisherSpec:
    _only(spec, "email", "subject")
    if spec.email is None and spec.subject is None:
        raise InvalidInput("a Google publisher needs the service account's email, its subject (sub), or both")
    if spec.email is not None and (not EMAIL_RE.match(spec.email) or len(spec.email) > 255):
        raise InvalidInput(f"{spec.email!r} is not an email address")
    if spec.subject is not None and not SUBJECT_RE.match(spec.subject):
        raise InvalidInput("the subject must be the service account's unique id (letters, digits, '.', '_', '-')")
    return replace(spec, email=spec.email.lower() if spec.email else None)


def _only(spec: PublisherSpec, *allowed: str) -> None:
    fields = ("owner", "repository", "workflow", "environment", "email", "subject")
    extra = [f for f in fields if f not in allowed and getattr(spec, f) is not None]
    if extra:
        raise InvalidInput(f"a {spec.provider} publisher takes no {', '.join(extra)}")


def matches(spec: PublisherSpec, token: VerifiedToken) -> bool:
    """Whether the token's claims are this publisher's identity (issuer included)."""
    if spec.provider != token.provider or normalize_issuer(spec.issuer) != token.issuer:
        return False
    claims = token.claims
    if spec.provider == "github":
        return _github_matches(spec, claims)
    if spec.provider == "gitlab":
        return _gitlab_matches(spec, claims)
    if spec.provider == "google":
        return _google_matches(spec, claims)
    return False


def _github_matches(spec: PublisherSpec, claims: Mapping[str, Any]) -> bool:
    repo = f"{spec.owner}/{spec.repository}"
    if not (_same(claims.get("repository"), repo) and _same(claims.get("repository_owner"), spec.owner)):
        return False
    path, ref = _split_ref(claims.get("job_workflow_ref"))
    if not ref or not _same(path[: len(repo)], repo) or path[len(repo) :] != f"/.github/workflows/{spec.workflow}":
        return False
    return spec.environment is None or _same(claims.get("environment"), spec.environment)


def _gitlab_matches(spec: PublisherSpec, claims: Mapping[str, Any]) -> bool:
    project = f"{spec.owner}/{spec.repository}"
    if not (_same(claims.get("project_path"), project) and _same(claims.get("namespace_path"), spec.owner)):
        return False
    path, ref = _split_ref(claims.get("ci_config_ref_uri"))
    prefixes = [f"{h}/{project}".lower() for h in _gitlab_hosts(spec.issuer)]
    head = next((p for p in prefixes if path.lower().startswith(p)), None)
    if not ref or head is None or path[len(head) :] != f"//{spec.workflow}":
        return False
    return spec.environment is None or claims.get("environment") == spec.environment


def _gitlab_hosts(issuer: str) -> list[str]:
    """How GitLab may write its own address in ``ci_config_ref_uri``: host[:port][/relative root]."""
    parts = urlsplit(issuer)
    root = parts.path.rstrip("/")
    return sorted({f"{parts.netloc}{root}", f"{parts.hostname or ''}{root}"})


def _google_matches(spec: PublisherSpec, claims: Mapping[str, Any]) -> bool:
    if spec.email is not None and not (_same(claims.get("email"), spec.email) and claims.get("email_verified") is True):
        return False
    return spec.subject is None or claims.get("sub") == spec.subject


def _same(claim: object, expected: str | None) -> bool:
    return isinstance(claim, str) and expected is not None and claim.lower() == expected.lower()


def _split_ref(claim: object) -> tuple[str, str]:
    """``path@ref`` into its two halves (empty strings when the claim is missing)."""
    if not isinstance(claim, str):
        return "", ""
    path, _, ref = claim.partition("@")
    return path, ref


def identity(token: VerifiedToken) -> str:
    """Who made a request, as recorded on the key, the uploaded files and the audit log.

    e.g. ``github:owner/repo release.yml run 123``, ``gitlab:group/proj .gitlab-ci.yml
    pipeline 45``, ``google:builder@proj.iam.gserviceaccount.com``.
    """
    claims = token.claims
    if token.provider == "github":
        workflow = _split_ref(claims.get("job_workflow_ref"))[0].rpartition("/")[2]
        text = f"github:{_text(claims, 'repository')} {workflow} run {_text(claims, 'run_id')}"
    elif token.provider == "gitlab":
        config = _split_ref(claims.get("ci_config_ref_uri"))[0].partition("//")[2]
        text = f"gitlab:{_text(claims, 'project_path')} {config} pipeline {_text(claims, 'pipeline_id')}"
    else:
        text = f"{token.provider}:{_text(claims, 'email') if claims.get('email') else _text(claims, 'sub')}"
    return text[:MAX_IDENTITY]


def describe(token: VerifiedToken) -> str:
    """The token's own identity claims, for telling its bearer why nothing matched."""
    claims = token.claims
    names = {
        "github": ("repository", "job_workflow_ref", "environment"),
        "gitlab": ("project_path", "ci_config_ref_uri", "environment"),
    }.get(token.provider, ("email", "sub"))
    return ", ".join(f"{n}={claims.get(n)!r}" for n in names)


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else "?"
