"""Signing in with a password, and self-service sign-up in the mode the server is configured for.

``closed``: nobody signs up (administrators make accounts). ``open``: anyone may.
``invite``: only with an administrator's invitation, used up by the account it makes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from taipan.accounts import audit, invitations, sessions
from taipan.accounts.passwords import hash_password
from taipan.accounts.ratelimit import FailureLimiter
from taipan.accounts.users import PasswordCache, UserInfo, check_username
from taipan.db.engine import Database
from taipan.db.models import User
from taipan.errors import Conflict, Forbidden, Unauthenticated

MODES = ("closed", "open", "invite")


def sign_up(
    db: Database, mode: str, username: str, password: str, invitation: str = "", address: str | None = None
) -> UserInfo:
    """Make an ordinary (non-admin) account, if the mode allows it."""
    if mode not in ("open", "invite"):
        raise Forbidden("sign-up is closed on this server: ask an administrator for an account")
    check_username(username)
    password_hash = hash_password(password)  # slow (argon2): before the write transaction
    try:
        with db.write() as session:
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict(f"user name {username!r} is taken; choose another")
            if mode == "invite":
                invitations.redeem(session, invitation, username)
            user = User(username=username, password_hash=password_hash, is_admin=False)
            session.add(user)
            session.flush()
            detail = "signup by invitation" if mode == "invite" else "signup"
            audit.record(session, username, "user_created", target=username, detail=detail, address=address)
            return UserInfo(user.id, user.username, False, True, user.created_ms)
    except IntegrityError as exc:
        raise Conflict(f"user name {username!r} is taken; choose another") from exc


def sign_in(
    db: Database,
    passwords: PasswordCache,
    limiter: FailureLimiter,
    username: str,
    password: str,
    ttl_s: int,
    address: str,
) -> tuple[UserInfo, sessions.NewSession]:
    """Check a password and start a session; failures count towards the address's limit."""
    limiter.check(address)
    user = passwords.check(username, password) if username and password else None
    with db.write() as session:
        audit.record(session, username[:255], "login" if user else "login_failed", address=address)
    if user is None:
        limiter.failed(address)
        raise Unauthenticated("wrong user name or password")
    return user, sessions.start(db, user.id, ttl_s)
