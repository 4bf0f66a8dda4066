"""Sign-in sessions (for the web UI and API clients that log in with a password).

The cookie holds a random token; the database holds its digest, the user, an expiry and
the CSRF token that state-changing requests made with the cookie must echo.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.db.models import User, WebSession, now_ms


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_ms: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Database, user_id: int, ttl_s: int) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now_ms() + ttl_s * 1000
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.expires_ms < now_ms()))
        session.add(WebSession(token_hash=_digest(token), user_id=user_id, csrf_token=csrf, expires_ms=expires))
    return NewSession(token, csrf, expires)


def principal_for_session(db: Database, token: str) -> tuple[Principal, str] | None:
    """The signed-in user and the session's CSRF token; None if the session is unknown or over."""
    if len(token) > 200:
        return None
    with db.read() as session:
        row = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _digest(token), WebSession.expires_ms > now_ms())
        ).first()
    if row is None:
        return None
    web_session, user = row
    return Principal(user.id, user.username, user.is_admin, via="session"), web_session.csrf_token


def end(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def end_all(session: Session, user_id: int, *, keep: str | None = None) -> None:
    """End every session of the user but ``keep`` (a session token), inside the caller's transaction."""
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        query = query.where(WebSession.token_hash != _digest(keep))
    session.execute(query)
