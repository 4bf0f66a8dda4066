"""API keys: made long and random, shown once, stored only as a SHA-256 digest.

The alphabet is ``[A-Za-z0-9-]``: conda and mamba mis-parse ``_`` and ``.`` in
``/t/<token>/`` URLs. A fast hash is right here (unlike passwords): the key carries
240 bits of randomness, so the digest is not guessable, and it is looked up per request.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from taipan.db.engine import Database
from taipan.db.models import ApiKey

PREFIX = "taipan-"
ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40
ADMIN_KEY_NAME = "admin token"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    is_admin: bool


def new_key() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def principal_for_key(db: Database, key: str) -> Principal | None:
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    with db.read() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key)))
    return None if row is None else Principal(name=row.name, is_admin=row.is_admin)


def ensure_admin_token(db: Database, token_file: Path) -> str | None:
    """Make the admin token on first start; return it when it was made now (to print once)."""
    with db.read() as session:
        exists = session.scalar(select(ApiKey.id).where(ApiKey.name == ADMIN_KEY_NAME)) is not None
    return None if exists else reset_admin_token(db, token_file)


def reset_admin_token(db: Database, token_file: Path) -> str:
    """Replace the admin token with a new one, saved (readable by its owner only) in ``token_file``."""
    key = new_key()
    with db.write() as session:
        session.execute(delete(ApiKey).where(ApiKey.name == ADMIN_KEY_NAME))
        session.add(ApiKey(key_hash=digest(key), name=ADMIN_KEY_NAME, is_admin=True))
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
