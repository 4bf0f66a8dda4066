"""OAuth sessions (grants) as users see them: who is calling with an access token, listing
and revoking them, and RFC 7009 revocation by token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from taipan.accounts import audit
from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.db.models import OAuthGrant, OAuthRefreshToken, User, now_ms
from taipan.errors import NotFound, Unauthenticated
from taipan.oauth.clients import Client, find
from taipan.oauth.flows import digest, revoke_grant
from taipan.oauth.tokens import AccessClaims

REVOKED = "this OAuth sign-in has been revoked: sign in again (pixi auth login --oauth <server>)"


@dataclass(frozen=True)
class SessionInfo:
    id: int
    client_id: str
    client_name: str
    scope: str
    read_only: bool
    flow: str
    created_ms: int
    last_used_ms: int
    revoked_ms: int | None
    revoked_reason: str


def principal_for_access(db: Database, claims: AccessClaims) -> Principal:
    """The user an access token acts for, with the rights the user has *now*, capped by the grant."""
    with db.read() as session:
        row = session.execute(
            select(OAuthGrant, User).join(User, User.id == OAuthGrant.user_id).where(OAuthGrant.id == claims.grant_id)
        ).first()
    if row is None:
        raise Unauthenticated(REVOKED)
    grant, user = row
    if grant.user_id != claims.user_id or grant.client_id != claims.client_id:
        raise Unauthenticated("the OAuth access token is not valid")
    if grant.revoked_ms is not None:
        raise Unauthenticated(REVOKED)
    return Principal(
        user_id=user.id,
        username=user.username,
        # A read-only grant is a narrowed credential: Principal.is_admin is then False.
        user_is_admin=user.is_admin,
        read_only=grant.read_only,
        via="oauth",
        extra={"oauth_session": str(grant.id), "oauth_client": grant.client_id},
    )


def list_sessions(db: Database, user_id: int, *, include_revoked: bool = False) -> list[SessionInfo]:
    with db.read() as session:
        query = select(OAuthGrant).where(OAuthGrant.user_id == user_id).order_by(OAuthGrant.id.desc())
        if not include_revoked:
            query = query.where(OAuthGrant.revoked_ms.is_(None))
        rows = session.scalars(query.limit(500)).all()
    return [_info(db, row) for row in rows]


def _info(db: Database, row: OAuthGrant) -> SessionInfo:
    client = find(db, row.client_id)
    return SessionInfo(
        row.id,
        row.client_id,
        client.name if client else f"{row.client_id} (no longer registered)",
        row.scope,
        row.read_only,
        row.flow,
        row.created_ms,
        row.last_used_ms,
        row.revoked_ms,
        row.revoked_reason,
    )


def revoke_session(db: Database, principal: Principal, grant_id: int, address: str | None = None) -> None:
    """Revoke one of the caller's OAuth sessions (an administrator may revoke anyone's)."""
    with db.write() as session:
        row = session.get(OAuthGrant, grant_id)
        if row is None or principal.user_id is None or (row.user_id != principal.user_id and not principal.is_admin):
            raise NotFound(f"OAuth session {grant_id} does not exist")
        if row.revoked_ms is None:
            revoke_grant(session, row.id, f"revoked by {principal.username}")
            audit.record(session, principal.username, "oauth_session_revoked", target=str(row.id), address=address)


def revoke_refresh_token(db: Database, client: Client, token: str) -> bool:
    """RFC 7009 for a refresh token: revoke its grant. False if the token is not one of ours."""
    with db.write() as session:
        row = session.get(OAuthRefreshToken, digest(token))
        grant = session.get(OAuthGrant, row.grant_id) if row else None
        if grant is None:
            return False
        if grant.client_id != client.client_id:
            return False
        revoke_grant(session, grant.id, "revoked by the client (logout)")
        return True


def revoke_grant_of_access(db: Database, client: Client, claims: AccessClaims) -> None:
    with db.write() as session:
        grant = session.get(OAuthGrant, claims.grant_id)
        if grant is not None and grant.client_id == client.client_id and grant.revoked_ms is None:
            grant.revoked_ms, grant.revoked_reason = now_ms(), "revoked by the client (logout)"
