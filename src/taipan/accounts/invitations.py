"""Invitations to sign up, for servers whose sign-up mode is ``invite``.

An administrator makes one; its token is shown once (as a sign-up link) and only its
SHA-256 digest is stored, like API keys. Each invitation makes at most one account,
before it expires and unless it is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, require_admin
from taipan.db.engine import Database
from taipan.db.models import Invitation, now_ms
from taipan.errors import Forbidden, InvalidInput, NotFound

MAX_DAYS = 365
MAX_NOTE = 255
MAX_TOKEN = 200


@dataclass(frozen=True)
class InvitationInfo:
    id: int
    note: str
    created_by: str
    created_ms: int
    expires_ms: int
    used_ms: int | None
    used_by: str | None
    revoked_ms: int | None

    def state(self, at_ms: int) -> str:
        if self.used_ms is not None:
            return "used"
        if self.revoked_ms is not None:
            return "revoked"
        return "expired" if self.expires_ms <= at_ms else "open"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: Invitation) -> InvitationInfo:
    return InvitationInfo(
        row.id, row.note, row.created_by, row.created_ms, row.expires_ms, row.used_ms, row.used_by, row.revoked_ms
    )


def _require_admin(principal: Principal | None, *, changing: bool = True) -> Principal:
    return require_admin(principal, changing=changing, what="managing invitations")


def create_invitation(
    db: Database, principal: Principal | None, note: str = "", days: float = 7, address: str | None = None
) -> tuple[str, InvitationInfo]:
    """A new invitation and its token (shown once)."""
    admin = _require_admin(principal)
    if not 0 < days <= MAX_DAYS:
        raise InvalidInput(f"an invitation lasts between 0 and {MAX_DAYS} days")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note is longer than {MAX_NOTE} characters")
    token = secrets.token_urlsafe(24)
    row = Invitation(
        token_hash=_digest(token), note=note, created_by=admin.username, expires_ms=now_ms() + int(days * 86_400_000)
    )
    with db.write() as session:
        session.add(row)
        session.flush()
        audit.record(session, admin.username, "invitation_created", target=str(row.id), detail=note, address=address)
        return token, _info(row)


def list_invitations(db: Database, principal: Principal | None, limit: int = 200) -> list[InvitationInfo]:
    """Newest first."""
    _require_admin(principal, changing=False)
    with db.read() as session:
        rows = session.scalars(select(Invitation).order_by(Invitation.id.desc()).limit(limit))
        return [_info(r) for r in rows]


def revoke_invitation(
    db: Database, principal: Principal | None, invitation_id: int, address: str | None = None
) -> None:
    admin = _require_admin(principal)
    with db.write() as session:
        row = session.get(Invitation, invitation_id)
        if row is None:
            raise NotFound(f"invitation {invitation_id} does not exist")
        if row.revoked_ms is None and row.used_ms is None:
            row.revoked_ms = now_ms()
            audit.record(session, admin.username, "invitation_revoked", target=str(row.id), address=address)


def is_open(db: Database, token: str) -> bool:
    """Whether ``token`` names an invitation that can still be used (to word the sign-up page)."""
    if not token or len(token) > MAX_TOKEN:
        return False
    with db.read() as session:
        row = session.scalar(select(Invitation).where(Invitation.token_hash == _digest(token)))
    return row is not None and _info(row).state(now_ms()) == "open"


def redeem(session: Session, token: str, username: str) -> None:
    """Mark the invitation used by ``username`` inside the caller's transaction (the one making
    the account), or raise Forbidden. The conditional UPDATE makes a token good for one account
    even when two sign-ups race."""
    refused = Forbidden("this invitation is not valid: it may be used, revoked or expired; ask for a new one")
    if not token or len(token) > MAX_TOKEN:
        raise refused
    at = now_ms()
    result = session.execute(
        update(Invitation)
        .where(
            Invitation.token_hash == _digest(token),
            Invitation.used_ms.is_(None),
            Invitation.revoked_ms.is_(None),
            Invitation.expires_ms > at,
        )
        .values(used_ms=at, used_by=username)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise refused
