"""API keys: made long and random, shown once, stored only as a SHA-256 digest.

The alphabet is ``[A-Za-z0-9-]``: conda and mamba mis-parse ``_`` and ``.`` in
``/t/<token>/`` URLs. A fast hash is right here (unlike passwords): the key carries
~238 bits of randomness, so its digest cannot be guessed back, and it is looked up on
every request through a unique index.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.db.engine import Database
from taipan.db.models import ApiKey, ApiKeyChannel, Channel, User, now_ms
from taipan.errors import Forbidden, InvalidInput, NotFound, Unauthenticated

PREFIX = "taipan-"
ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40
MAX_KEY_LENGTH = 200
ADMIN_USERNAME = "admin"
ADMIN_KEY_NAME = "admin token"
MAX_CHAIN = 16
"""How many keys deep a key may be minted from keys (each checked on every request)."""


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    username: str | None
    read_only: bool
    channels: dict[str, str] | None
    expires_ms: int | None
    revoked_ms: int | None
    created_ms: int


def new_key() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX) and len(value) <= MAX_KEY_LENGTH


def principal_for_key(db: Database, key: str) -> Principal:
    """The caller a key stands for; Unauthenticated (saying why) if it is unknown, revoked or expired."""
    if not looks_like_key(key):
        raise Unauthenticated("the API key is not valid")
    return _principal(db, ApiKey.key_hash == digest(key))


def principal_for_key_id(db: Database, key_id: int) -> Principal:
    """The caller of a key known by id (e.g. recorded with an upload ticket), if still valid."""
    return _principal(db, ApiKey.id == key_id)


def _principal(db: Database, which: ColumnElement[bool]) -> Principal:
    with db.read() as session:
        row = session.execute(select(ApiKey, User).outerjoin(User, User.id == ApiKey.user_id).where(which)).first()
        if row is None:
            raise Unauthenticated("the API key is not valid")
        api_key, user = row
        if api_key.revoked_ms is not None:
            raise Unauthenticated("the API key has been revoked")
        if api_key.expires_ms is not None and api_key.expires_ms <= now_ms():
            raise Unauthenticated("the API key has expired")
        _check_ancestors(session, api_key.parent_key_id)
        caps = _caps(session, api_key) if api_key.channel_scoped else None
    return Principal(
        user_id=user.id if user else None,
        username=user.username if user else api_key.name,
        user_is_admin=bool(user and user.is_admin),
        read_only=api_key.read_only,
        channel_caps=caps,
        key_id=api_key.id,
        publisher=user is None,
        expires_ms=api_key.expires_ms,
    )


def _check_ancestors(session: Session, parent_id: int | None) -> None:
    """A key works only while every key up its chain does: revocation cascades to descendants
    (see :func:`revoke`), and this holds even where the cascade were missed. One indexed
    lookup per level; chains are at most MAX_CHAIN long."""
    for _ in range(MAX_CHAIN + 1):
        if parent_id is None:
            return
        row = session.execute(select(ApiKey.revoked_ms, ApiKey.parent_key_id).where(ApiKey.id == parent_id)).first()
        if row is None:
            raise Unauthenticated("the API key that made this key no longer exists")
        if row.revoked_ms is not None:
            raise Unauthenticated("the API key that made this key has been revoked")
        parent_id = row.parent_key_id
    raise Unauthenticated("the API key was made by too long a chain of keys")


def _depth(session: Session, key_id: int) -> int:
    """How many keys deep ``key_id`` is (1: minted by a sign-in or the server)."""
    depth, current = 1, session.scalar(select(ApiKey.parent_key_id).where(ApiKey.id == key_id))
    while current is not None and depth <= MAX_CHAIN:
        depth, current = depth + 1, session.scalar(select(ApiKey.parent_key_id).where(ApiKey.id == current))
    return depth


def _caps(session: Session, api_key: ApiKey) -> dict[int, Role]:
    rows = session.execute(
        select(ApiKeyChannel.channel_id, ApiKeyChannel.role).where(ApiKeyChannel.key_id == api_key.id)
    ).all()
    return {channel_id: Role.parse(role) for channel_id, role in rows}


@dataclass(frozen=True)
class Grant:
    """What a new key may do, before it is checked against the credential that asks for it."""

    read_only: bool = False
    channel_caps: Mapping[int, Role] | None = None
    expires_ms: int | None = None


def within(parent: Principal, wanted: Grant) -> Grant:
    """``wanted`` narrowed to what ``parent`` (the credential minting it) may do: a key never
    out-ranks or outlives the credential that made it.

    Read-only stays read-only; a channel-scoped parent mints only inside its scope (by
    default its whole scope), each channel up to the parent's own cap; the expiry is the
    earlier of the one asked for and the parent's. Administrator rights need an unnarrowed
    credential, so a narrowed child never has them (see Principal.is_admin).
    """
    if parent.publisher:
        raise Forbidden("a trusted publisher's upload key cannot make keys")
    caps = wanted.channel_caps
    if parent.channel_caps is not None:
        caps = dict(parent.channel_caps) if caps is None else caps
        for channel_id, role in caps.items():
            cap = parent.channel_caps.get(channel_id)
            if cap is None or role > cap:
                raise Forbidden("a channel-scoped key may only make keys for its own channels, up to its own roles")
    expires = wanted.expires_ms
    if parent.expires_ms is not None:
        expires = parent.expires_ms if expires is None else min(expires, parent.expires_ms)
    return Grant(wanted.read_only or parent.read_only, caps, expires)


def mint(
    session: Session,
    *,
    user_id: int | None,
    name: str,
    grant: Grant,
    parent: Principal | None,
) -> tuple[str, ApiKey]:
    """The one place keys are made (inside the caller's transaction); returns the key and its row.

    ``parent`` is the credential asking: the key is narrowed to it (:func:`within`) and acts for
    the same user. None only for keys the server itself issues: the admin token, and a trusted
    publisher's upload key (whose authority is the verified OIDC token, checked by its caller).
    When ``parent`` is an API key, the new key records it (``parent_key_id``) and works only while
    it does; a key minted with a sign-in (password, session, OAuth) is a root: see docs/accounts.md.
    """
    parent_key_id = None
    if parent is not None:
        if parent.user_id != user_id:
            raise Forbidden("a key can only be made for the user of the credential asking for it")
        grant = within(parent, grant)
        parent_key_id = parent.key_id
        if parent_key_id is not None and _depth(session, parent_key_id) >= MAX_CHAIN:
            raise Forbidden(f"keys can be made from keys at most {MAX_CHAIN} deep: make this one by signing in")
    if not name or len(name) > 255:
        raise InvalidInput("a key needs a name of 1 to 255 characters")
    if grant.expires_ms is not None and grant.expires_ms <= now_ms():
        raise InvalidInput("the expiry must be in the future")
    read_only, channel_caps, expires_ms = grant.read_only, grant.channel_caps, grant.expires_ms
    key = new_key()
    row = ApiKey(
        key_hash=digest(key),
        name=name,
        user_id=user_id,
        read_only=read_only,
        channel_scoped=channel_caps is not None,
        expires_ms=expires_ms,
        parent_key_id=parent_key_id,
    )
    session.add(row)
    session.flush()
    for channel_id, role in (channel_caps or {}).items():
        session.add(ApiKeyChannel(key_id=row.id, channel_id=channel_id, role=role.label))
    return key, row


def list_keys(db: Database, user_id: int) -> list[KeyInfo]:
    with db.read() as session:
        rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)).all()
        return [key_info(session, r) for r in rows]


def key_info(session: Session, row: ApiKey) -> KeyInfo:
    channels = None
    if row.channel_scoped:
        pairs = session.execute(
            select(Channel.name, ApiKeyChannel.role)
            .join(Channel, Channel.id == ApiKeyChannel.channel_id)
            .where(ApiKeyChannel.key_id == row.id)
        ).all()
        channels = {name: role for name, role in pairs}
    username = session.scalar(select(User.username).where(User.id == row.user_id)) if row.user_id else None
    return KeyInfo(row.id, row.name, username, row.read_only, channels, row.expires_ms, row.revoked_ms, row.created_ms)


def revoke(db: Database, principal: Principal, key_id: int, address: str | None = None) -> None:
    """Revoke one of the caller's keys (an admin may revoke anyone's).

    Only with a signed-in session, a password or a key that is neither read-only nor
    channel-scoped: a narrowed key revokes nothing, not even itself.
    """
    if principal.narrowed:
        raise Forbidden("revoking keys needs a key that is neither read-only nor channel-scoped, or signing in")
    with db.write() as session:
        row = session.get(ApiKey, key_id)
        if row is None or principal.user_id is None or (row.user_id != principal.user_id and not principal.is_admin):
            raise NotFound(f"key {key_id} does not exist")
        revoke_with_descendants(session, row, principal.username, address)


def revoke_with_descendants(session: Session, row: ApiKey, actor: str, address: str | None = None) -> None:
    """Revoke ``row`` and every key minted from it, down its chain, in the caller's transaction;
    each newly revoked key is audited. Descendants are revoked even when ``row`` already was."""
    at = now_ms()
    if row.revoked_ms is None:
        row.revoked_ms = at
        audit.record(session, actor, "key_revoked", target=f"{row.id}:{row.name}", address=address)
    level = [row.id]
    for _ in range(MAX_CHAIN + 1):
        children = session.scalars(select(ApiKey).where(ApiKey.parent_key_id.in_(level))).all()
        if not children:
            return
        for child in children:
            if child.revoked_ms is None:
                child.revoked_ms = at
                audit.record(
                    session,
                    actor,
                    "key_revoked",
                    target=f"{child.id}:{child.name}",
                    detail=f"with the key that made it ({child.parent_key_id})",
                    address=address,
                )
        level = [child.id for child in children]


def ensure_admin_token(db: Database, token_file: Path) -> str | None:
    """On first start: make the admin account and its key; return the key when made now (to print once)."""
    with db.read() as session:
        exists = session.scalar(select(ApiKey.id).where(ApiKey.name == ADMIN_KEY_NAME)) is not None
    return None if exists else reset_admin_token(db, token_file)


def reset_admin_token(db: Database, token_file: Path) -> str:
    """Replace the admin token with a new one, saved (readable by its owner only) in ``token_file``."""
    with db.write() as session:
        user = session.scalar(select(User).where(User.username == ADMIN_USERNAME))
        if user is None:
            user = User(username=ADMIN_USERNAME, password_hash=None, is_admin=True)
            session.add(user)
            session.flush()
        olds = session.scalars(select(ApiKey).where(ApiKey.name == ADMIN_KEY_NAME, ApiKey.revoked_ms.is_(None))).all()
        for old in olds:
            revoke_with_descendants(session, old, "taipan")
        key, _ = mint(session, user_id=user.id, name=ADMIN_KEY_NAME, grant=Grant(), parent=None)
        audit.record(session, "taipan", "key_created", target=ADMIN_KEY_NAME)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def read_admin_token(token_file: Path) -> str | None:
    try:
        return token_file.read_text().strip() or None
    except FileNotFoundError:
        return None
