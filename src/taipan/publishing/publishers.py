"""Trusted publishers: CI identities a channel's owner lets upload with an OIDC token,
and trading such a token for a short-lived upload key.

A minted key belongs to no user: it is scoped to the matched channels as a Contributor,
expires within minutes, and is named after the publisher identity and run it was minted
for, which is then recorded as the uploader of everything it uploads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taipan.accounts import audit, keys
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import Channel, TrustedPublisher, now_ms
from taipan.errors import Conflict, Forbidden, InvalidInput, NotFound
from taipan.publishing.claims import PublisherSpec, describe, identity, matches, validated
from taipan.publishing.oidc.verify import TokenVerifier, VerifiedToken

MAX_PUBLISHERS_PER_CHANNEL = 100


@dataclass(frozen=True)
class Publisher:
    """A trusted publisher as shown to the channel's owner, with each provider's own field names."""

    id: int
    channel: str
    provider: str
    issuer: str
    description: str
    owner: str | None = None
    """GitHub: the repository owner."""
    repository: str | None = None
    """GitHub: the repository name."""
    workflow: str | None = None
    """GitHub: the workflow file name in .github/workflows/."""
    namespace: str | None = None
    """GitLab: the project's namespace (group/subgroup or user)."""
    project: str | None = None
    """GitLab: the project name."""
    config_path: str | None = None
    """GitLab: the CI config file's path in the project."""
    environment: str | None = None
    """GitHub, GitLab: the deployment environment the job must run in (None: any)."""
    email: str | None = None
    """Google: the service account's email."""
    subject: str | None = None
    """Google: the service account's unique id (the token's sub)."""
    created_ms: int = 0
    created_by: str = ""


@dataclass(frozen=True)
class PublisherIn:
    """What the owner gives: GitHub owner/repository/workflow, GitLab namespace/project/config_path,
    Google email/subject; environment for either CI."""

    provider: str
    owner: str | None = None
    repository: str | None = None
    workflow: str | None = None
    namespace: str | None = None
    project: str | None = None
    config_path: str | None = None
    environment: str | None = None
    email: str | None = None
    subject: str | None = None


def add_publisher(
    db: Database,
    principal: Principal | None,
    channel: str,
    given: PublisherIn,
    issuers: Mapping[str, str],
    address: str | None = None,
) -> Publisher:
    """Trust one more CI identity to upload to ``channel`` (owner). ``issuers`` are the server's."""
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        spec = validated(_spec(given, issuers))
        existing = [_spec_of(row) for row in _rows(session, ref.id)]
        if spec in existing:
            raise Conflict(f"channel {channel!r} already trusts this publisher")
        if len(existing) >= MAX_PUBLISHERS_PER_CHANNEL:
            raise Conflict(f"a channel can have at most {MAX_PUBLISHERS_PER_CHANNEL} trusted publishers")
        actor = principal.username if principal else ""
        row = TrustedPublisher(channel_id=ref.id, created_by=actor, **vars(spec))
        session.add(row)
        session.flush()
        info = _info(row, channel)
        audit.record(
            session,
            actor,
            "publisher_added",
            channel=channel,
            target=str(row.id),
            detail=info.description,
            address=address,
        )
    return info


def list_publishers(db: Database, principal: Principal | None, channel: str) -> list[Publisher]:
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        return [_info(row, channel) for row in _rows(session, ref.id)]


def remove_publisher(
    db: Database, principal: Principal | None, channel: str, publisher_id: int, address: str | None = None
) -> None:
    """Stop trusting a publisher. Keys it already minted keep working until they expire (minutes)."""
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        row = session.get(TrustedPublisher, publisher_id)
        if row is None or row.channel_id != ref.id:
            raise NotFound(f"channel {channel!r} has no trusted publisher {publisher_id}")
        description = _info(row, channel).description
        session.delete(row)
        actor = principal.username if principal else ""
        audit.record(
            session,
            actor,
            "publisher_removed",
            channel=channel,
            target=str(publisher_id),
            detail=description,
            address=address,
        )


def mint_upload_key(db: Database, verifier: TokenVerifier, token: str, ttl_s: int, address: str | None = None) -> str:
    """Trade a CI's OIDC token for a key that may upload only to the channels whose publishers match.

    Raises InvalidToken (which check failed) or Forbidden when no publisher matches; the
    message names only the token's own claims, never another channel's configuration.
    """
    verified = verifier.verify(token)
    with db.write() as session:
        matched = _matching_channels(session, verified)
        if not matched:
            raise Forbidden(f"no trusted publisher matches this token ({describe(verified)})")
        name = identity(verified)
        grant = keys.Grant(
            channel_caps={channel_id: Role.CONTRIBUTOR for channel_id in matched}, expires_ms=now_ms() + ttl_s * 1000
        )
        # No parent credential: the verified token, matched against the channels' publishers, is the authority.
        key, row = keys.mint(session, user_id=None, name=name, grant=grant, parent=None)
        for channel_name in matched.values():
            audit.record(
                session,
                name,
                "publisher_key_minted",
                channel=channel_name,
                target=str(row.id),
                detail=_provenance(verified),
                address=address,
            )
    return key


def _matching_channels(session: Session, token: VerifiedToken) -> dict[int, str]:
    query = (
        select(TrustedPublisher, Channel.name)
        .join(Channel, Channel.id == TrustedPublisher.channel_id)
        .where(TrustedPublisher.provider == token.provider)
        .order_by(TrustedPublisher.id)
    )
    owner = token.claims.get({"github": "repository_owner", "gitlab": "namespace_path"}.get(token.provider, ""))
    if isinstance(owner, str):  # narrow in SQL by the owner; the full check is claims.matches
        query = query.where(func.lower(TrustedPublisher.owner) == owner.lower())
    return {row.channel_id: name for row, name in session.execute(query) if matches(_spec_of(row), token)}


def _provenance(token: VerifiedToken) -> str:
    """The claims worth keeping about a run: where it came from and what it built."""
    names = (
        "sub",
        "ref",
        "sha",
        "environment",
        "run_id",
        "run_attempt",
        "actor",
        "event_name",
        "job_workflow_ref",
        "pipeline_id",
        "job_id",
        "ci_config_ref_uri",
        "user_login",
        "email",
    )
    return " ".join(f"{n}={token.claims[n]}" for n in names if isinstance(token.claims.get(n), str | int))


def _spec(given: PublisherIn, issuers: Mapping[str, str]) -> PublisherSpec:
    issuer = issuers.get(given.provider)
    if issuer is None:
        raise InvalidInput(f"this server accepts no {given.provider!r} tokens (see the oidc_issuers setting)")
    if given.provider == "gitlab":
        if given.owner or given.repository or given.workflow:
            raise InvalidInput("a gitlab publisher takes namespace, project and config_path")
        owner, repository, workflow = given.namespace, given.project, given.config_path
    else:
        if given.namespace or given.project or given.config_path:
            raise InvalidInput(f"a {given.provider} publisher takes no namespace, project or config_path")
        owner, repository, workflow = given.owner, given.repository, given.workflow
    return PublisherSpec(
        given.provider, issuer, owner, repository, workflow, given.environment, given.email, given.subject
    )


def _rows(session: Session, channel_id: int) -> list[TrustedPublisher]:
    query = select(TrustedPublisher).where(TrustedPublisher.channel_id == channel_id).order_by(TrustedPublisher.id)
    return list(session.scalars(query))


def _spec_of(row: TrustedPublisher) -> PublisherSpec:
    return PublisherSpec(
        row.provider, row.issuer, row.owner, row.repository, row.workflow, row.environment, row.email, row.subject
    )


def _info(row: TrustedPublisher, channel: str) -> Publisher:
    github, gitlab = row.provider == "github", row.provider == "gitlab"
    return Publisher(
        id=row.id,
        channel=channel,
        provider=row.provider,
        issuer=row.issuer,
        description=_describe(row),
        owner=row.owner if github else None,
        repository=row.repository if github else None,
        workflow=row.workflow if github else None,
        namespace=row.owner if gitlab else None,
        project=row.repository if gitlab else None,
        config_path=row.workflow if gitlab else None,
        environment=row.environment,
        email=row.email,
        subject=row.subject,
        created_ms=row.created_ms,
        created_by=row.created_by,
    )


def _describe(row: TrustedPublisher) -> str:
    env = f" (environment {row.environment})" if row.environment else ""
    if row.provider == "github":
        return f"GitHub {row.owner}/{row.repository} .github/workflows/{row.workflow}{env}"
    if row.provider == "gitlab":
        return f"GitLab {row.owner}/{row.repository} {row.workflow}{env}"
    return "Google " + " ".join(v for v in (row.email, row.subject and f"sub {row.subject}") if v)
