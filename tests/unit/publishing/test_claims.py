"""Claim matching per provider, publisher validation, and the identity recorded for uploads."""

from __future__ import annotations

from typing import Any

import pytest

from taipan.errors import InvalidInput
from taipan.publishing.claims import PublisherSpec, identity, matches, validated
from taipan.publishing.oidc.verify import VerifiedToken
from tests.support.oidc_issuer import github_claims, gitlab_claims, google_claims

GITHUB = "https://token.actions.githubusercontent.com"
GITLAB = "https://gitlab.com"
GOOGLE = "https://accounts.google.com"


def _github(**changes: Any) -> VerifiedToken:
    claims = github_claims("aud", "Acme", "Tools", "release.yml", environment="pypi")
    claims.update(changes)
    return VerifiedToken("github", GITHUB, {k: v for k, v in claims.items() if v is not None})


def _gitlab(issuer: str = GITLAB, **changes: Any) -> VerifiedToken:
    claims = gitlab_claims("aud", issuer, "group/sub", "proj", "ci/release.yml", environment="prod")
    claims.update(changes)
    return VerifiedToken("gitlab", issuer, {k: v for k, v in claims.items() if v is not None})


def _google(**changes: Any) -> VerifiedToken:
    claims = {**google_claims("aud", "builder@proj.iam.gserviceaccount.com", "1234567890"), **changes}
    return VerifiedToken("google", GOOGLE, {k: v for k, v in claims.items() if v is not None})


GH = PublisherSpec("github", GITHUB, "acme", "tools", "release.yml")
GL = PublisherSpec("gitlab", GITLAB, "group/sub", "proj", "ci/release.yml")


def test_github() -> None:
    assert matches(GH, _github())  # names are case-insensitive on GitHub
    assert matches(PublisherSpec("github", GITHUB + "/", "ACME", "TOOLS", "release.yml", "PyPI"), _github())
    assert not matches(PublisherSpec("github", GITHUB, "acme", "tools", "release.yml", "prod"), _github())
    assert not matches(PublisherSpec("github", GITHUB, "acme", "tools", "Release.yml"), _github())
    assert not matches(GH, _github(repository="acme/tools2"))
    assert not matches(GH, _github(repository_owner="acme2"))
    assert not matches(GH, _github(job_workflow_ref=None))
    assert not matches(GH, _github(job_workflow_ref="Acme/Tools/.github/workflows/release.yml@"))  # no ref
    assert not matches(GH, _github(job_workflow_ref="Acme/Tools/.github/workflows/release.yml.bak@refs/x"))
    assert not matches(GH, _github(job_workflow_ref="Acme/Tools/.github/workflows/sub/release.yml@refs/x"))
    # A reusable workflow of another repository is that repository's workflow, not this one's.
    assert not matches(GH, _github(job_workflow_ref="acme/shared/.github/workflows/release.yml@refs/heads/main"))
    assert not matches(PublisherSpec("github", "https://other.example", "acme", "tools", "release.yml"), _github())
    assert not matches(PublisherSpec("gitlab", GITHUB, "acme", "tools", "release.yml"), _github())


def test_gitlab() -> None:
    assert matches(GL, _gitlab())
    assert matches(PublisherSpec("gitlab", GITLAB, "Group/Sub", "Proj", "ci/release.yml", "prod"), _gitlab())
    assert not matches(PublisherSpec("gitlab", GITLAB, "group/sub", "proj", "ci/release.yml", "Prod"), _gitlab())
    assert not matches(PublisherSpec("gitlab", GITLAB, "group/sub", "proj", ".gitlab-ci.yml"), _gitlab())
    assert not matches(PublisherSpec("gitlab", GITLAB, "group", "sub/proj", "ci/release.yml"), _gitlab())
    assert not matches(GL, _gitlab(project_path="group/sub/other"))
    assert not matches(GL, _gitlab(ci_config_ref_uri="gitlab.com/group/sub/proj//ci/release.yml"))  # no ref
    assert not matches(GL, _gitlab(ci_config_ref_uri="evil.com/group/sub/proj//ci/release.yml@refs/heads/main"))


@pytest.mark.parametrize("issuer", ["https://git.example.org:8443", "https://example.org/gitlab"])
def test_self_hosted_gitlab(issuer: str) -> None:
    spec = PublisherSpec("gitlab", issuer, "group/sub", "proj", "ci/release.yml")
    assert matches(spec, _gitlab(issuer))
    if ":8443" in issuer:  # GitLab may leave its port out of ci_config_ref_uri
        uri = "git.example.org/group/sub/proj//ci/release.yml@refs/heads/main"
        assert matches(spec, _gitlab(issuer, ci_config_ref_uri=uri))
    assert not matches(spec, _gitlab(GITLAB))


def test_google() -> None:
    email = "builder@proj.iam.gserviceaccount.com"
    assert matches(PublisherSpec("google", GOOGLE, email=email), _google())
    assert matches(PublisherSpec("google", GOOGLE, email=email.upper()), _google())
    assert matches(PublisherSpec("google", GOOGLE, subject="1234567890"), _google())
    assert matches(PublisherSpec("google", GOOGLE, email=email, subject="1234567890"), _google())
    assert not matches(PublisherSpec("google", GOOGLE, email=email, subject="999"), _google())
    assert not matches(PublisherSpec("google", GOOGLE, email=email), _google(email_verified=False))
    assert not matches(PublisherSpec("google", GOOGLE, email=email), _google(email_verified="true"))
    assert not matches(PublisherSpec("google", GOOGLE, email="other@proj.iam.gserviceaccount.com"), _google())


def test_validated() -> None:
    spec = validated(PublisherSpec("github", GITHUB, " acme ", "tools", ".github/workflows/release.yml", " "))
    assert spec == PublisherSpec("github", GITHUB, "acme", "tools", "release.yml")
    google = validated(PublisherSpec("google", GOOGLE, email="Builder@Proj.iam.gserviceaccount.com"))
    assert google.email == "builder@proj.iam.gserviceaccount.com"
    bad = [
        PublisherSpec("github", GITHUB, "acme", "tools", None),
        PublisherSpec("github", GITHUB, "acme", "tools", "sub/release.yml"),
        PublisherSpec("github", GITHUB, "acme", "tools", "release.sh"),
        PublisherSpec("github", GITHUB, "ac/me", "tools", "release.yml"),
        PublisherSpec("github", GITHUB, "acme", "tools", "release.yml", email="a@b.example"),
        PublisherSpec("github", GITHUB, "acme", "tools", "release.yml", "bad\nenv"),
        PublisherSpec("gitlab", GITLAB, "group", "proj", "../ci.yml"),
        PublisherSpec("gitlab", GITLAB, "group", "proj", "/ci.yml"),
        PublisherSpec("gitlab", GITLAB, "group//sub", "proj", "ci.yml"),
        PublisherSpec("gitlab", GITLAB, "group", "proj", "ci.yml@main"),
        PublisherSpec("google", GOOGLE),
        PublisherSpec("google", GOOGLE, email="nobody"),
        PublisherSpec("google", GOOGLE, subject="has space"),
        PublisherSpec("google", GOOGLE, email="a@b.example", environment="prod"),
        PublisherSpec("jenkins", "https://jenkins.example"),
    ]
    for item in bad:
        with pytest.raises(InvalidInput):
            validated(item)


def test_identity() -> None:
    assert identity(_github()) == "github:Acme/Tools release.yml run 4242"
    assert identity(_gitlab()) == "gitlab:group/sub/proj ci/release.yml pipeline 777"
    assert identity(_google()) == "google:builder@proj.iam.gserviceaccount.com"
    assert identity(_google(email=None)) == "google:1234567890"
    assert identity(_github(run_id=None)) == "github:Acme/Tools release.yml run ?"
    assert len(identity(_github(repository="a/" + "b" * 400))) == 255
