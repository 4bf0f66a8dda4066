"""User accounts."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taipan.accounts import audit, sessions
from taipan.accounts.passwords import hash_password, needs_rehash, verify_password
from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.db.models import User
from taipan.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_dummy_hash: list[str] = []


def _dummy() -> str:
    """A real hash to verify against for unknown users, so a miss costs what a hit does."""
    if not _dummy_hash:
        _dummy_hash.append(hash_password("not-a-password-of-anyone"))
    return _dummy_hash[0]


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    is_admin: bool
    has_password: bool
    created_ms: int


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.is_admin, user.password_hash is not None, user.created_ms)


def check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            f"user name {username!r} is not valid: lower-case letters, digits, '_', '.', '-', "
            "starting with a letter or digit, at most 64 characters"
        )


def create_user(
    db: Database, username: str, password: str | None, *, is_admin: bool = False, actor: str = ""
) -> UserInfo:
    check_username(username)
    password_hash = hash_password(password) if password is not None else None
    try:
        with db.write() as session:
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict(f"user {username!r} already exists")
            user = User(username=username, password_hash=password_hash, is_admin=is_admin)
            session.add(user)
            session.flush()
            audit.record(session, actor or username, "user_created", target=username, detail=f"admin={is_admin}")
            return _info(user)
    except IntegrityError as exc:
        raise Conflict(f"user {username!r} already exists") from exc


def list_users(db: Database) -> list[UserInfo]:
    with db.read() as session:
        return [_info(u) for u in session.scalars(select(User).order_by(User.username))]


def get_user(db: Database, username: str) -> UserInfo:
    with db.read() as session:
        return _info(find_user(session, username))


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def check_password(db: Database, username: str, password: str) -> UserInfo | None:
    """The user if the password is right, else None (taking the same time either way)."""
    with db.read() as session:
        user = session.scalar(select(User).where(User.username == username))
    if user is None or user.password_hash is None:
        verify_password(_dummy(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        with db.write() as session:
            found = find_user(session, username)
            found.password_hash = hash_password(password)
    return _info(user)


def set_password(
    db: Database, username: str, new_password: str, *, actor: str, keep_session: str | None = None
) -> None:
    """Set the password and end every sign-in session of the user but ``keep_session`` (the
    caller's own, when users change their own): whoever signed in with the old one is out."""
    password_hash = hash_password(new_password)
    with db.write() as session:
        user = find_user(session, username)
        user.password_hash = password_hash
        sessions.end_all(session, user.id, keep=keep_session)
        audit.record(session, actor, "password_changed", target=username)


def change_password(
    db: Database, principal: Principal, current: str, new_password: str, *, keep_session: str | None = None
) -> None:
    """The caller changes their own password (knowing the current one); other sessions end."""
    if principal.narrowed or principal.user_id is None:
        raise Forbidden("changing a password needs signing in, or a key that is neither read-only nor channel-scoped")
    if check_password(db, principal.username, current) is None:
        raise Unauthenticated("the current password is not right")
    set_password(db, principal.username, new_password, actor=principal.username, keep_session=keep_session)


class PasswordCache:
    """Checks user:password pairs, remembering good ones so HTTP Basic on every request
    (conda and mamba send it on each download) does not pay argon2 each time.

    A remembered pair is trusted only while the user's stored hash is unchanged, so a
    password change ends it at once. Only digests of the pairs are kept.
    """

    def __init__(self, db: Database, max_entries: int = 10_000) -> None:
        self._db = db
        self._max = max_entries
        self._good: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(self, username: str, password: str) -> UserInfo | None:
        pair = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        with self._lock:
            remembered = self._good.get(pair)
        if remembered is not None:
            with self._db.read() as session:
                user = session.scalar(select(User).where(User.username == username))
            if user is not None and user.password_hash == remembered:
                return _info(user)
        info = check_password(self._db, username, password)
        if info is not None:
            with self._db.read() as session:
                stored = session.scalar(select(User.password_hash).where(User.id == info.id))
            with self._lock:
                if len(self._good) >= self._max:
                    self._good.clear()
                if stored is not None:
                    self._good[pair] = stored
        return info


def principal_for_user(db: Database, user_id: int) -> Principal:
    """The user as a caller (for work authorised earlier, e.g. an upload ticket)."""
    with db.read() as session:
        user = session.get(User, user_id)
    if user is None:
        raise Unauthenticated("the user of this ticket no longer exists")
    return Principal(user.id, user.username, user.is_admin, via="ticket")
