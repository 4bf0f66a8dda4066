"""Registered OAuth clients and their redirect URIs.

``rattler`` (pixi, rattler-build, the rattler CLI) is built in: a public client whose
redirect goes to a port it has just opened on the loopback interface, so any port (and
path) on 127.0.0.1, [::1] or localhost is allowed, as RFC 8252 §7.3 lets native apps do.
Administrators register others; those match their registered URIs exactly (plus loopback
ones when the client is marked as a native app).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from taipan.accounts import audit
from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.db.models import OAuthClient, OAuthGrant, now_ms
from taipan.errors import Conflict, InvalidInput, NotFound
from taipan.oauth.errors import invalid_client

RATTLER = "rattler"
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECT_CHARS = 2048


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    loopback: bool
    secret_hash: str | None = None
    builtin: bool = False
    created_ms: int = 0

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None

    def allows_redirect(self, uri: str) -> bool:
        if len(uri) > MAX_REDIRECT_CHARS:
            return False
        if uri in self.redirect_uris:
            return True
        return self.loopback and is_loopback(uri)


BUILTIN = {RATTLER: Client(RATTLER, "rattler (pixi, rattler-build)", (), loopback=True, builtin=True)}


def is_loopback(uri: str) -> bool:
    """An ``http`` URL on the loopback interface, with a port, no user info and no fragment."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and port is not None
        and "@" not in parts.netloc
        and not parts.fragment
        and all(c.isprintable() and not c.isspace() for c in uri)
    )


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _from_row(row: OAuthClient) -> Client:
    return Client(
        row.client_id,
        row.name,
        tuple(json.loads(row.redirect_uris)),
        row.loopback,
        row.secret_hash,
        created_ms=row.created_ms,
    )


def find(db: Database, client_id: str) -> Client | None:
    if client_id in BUILTIN:
        return BUILTIN[client_id]
    if not CLIENT_ID_RE.match(client_id):
        return None
    with db.read() as session:
        row = session.get(OAuthClient, client_id)
        return _from_row(row) if row else None


def authenticate(db: Database, client_id: str, secret: str | None) -> Client:
    """The client making a token or revocation request; a confidential one must prove its secret."""
    client = find(db, client_id) if client_id else None
    if client is None:
        raise invalid_client(f"unknown client_id {client_id!r}" if client_id else "the request names no client_id")
    if client.secret_hash is not None:
        if not secret or not secrets.compare_digest(_secret_digest(secret), client.secret_hash):
            raise invalid_client(f"client {client_id!r} must authenticate with its client secret")
    elif secret:
        raise invalid_client(f"client {client_id!r} is a public client: it has no secret")
    return client


def list_clients(db: Database) -> list[Client]:
    with db.read() as session:
        rows = session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)).all()
        return [*BUILTIN.values(), *(_from_row(r) for r in rows)]


def _check_redirects(uris: list[str], loopback: bool) -> None:
    if not uris and not loopback:
        raise InvalidInput("a client needs at least one redirect URI, or loopback redirects (native apps)")
    for uri in uris:
        try:
            parts = urlsplit(uri)
        except ValueError:
            parts = None
        if (
            parts is None
            or len(uri) > MAX_REDIRECT_CHARS
            or parts.fragment
            or not parts.netloc
            or (parts.scheme != "https" and not is_loopback(uri))
        ):
            raise InvalidInput(
                f"redirect URI {uri!r} is not valid: an absolute https URL without a fragment "
                "(or http on the loopback interface)"
            )


def add_client(
    db: Database,
    actor: Principal,
    client_id: str,
    name: str,
    redirect_uris: list[str],
    *,
    loopback: bool = False,
    confidential: bool = False,
) -> tuple[Client, str | None]:
    """Register a client (administrators); returns it and, for a confidential one, its secret (shown once)."""
    if not CLIENT_ID_RE.match(client_id):
        raise InvalidInput(f"client id {client_id!r} is not valid: letters, digits, '.', '_', '-', at most 64")
    if client_id in BUILTIN:
        raise Conflict(f"client {client_id!r} is built in")
    if not name.strip() or len(name) > 255:
        raise InvalidInput("a client needs a name of 1 to 255 characters")
    _check_redirects(redirect_uris, loopback)
    secret = secrets.token_urlsafe(32) if confidential else None
    row = OAuthClient(
        client_id=client_id,
        name=name.strip(),
        redirect_uris=json.dumps(redirect_uris),
        loopback=loopback,
        secret_hash=_secret_digest(secret) if secret else None,
        created_by=actor.username,
    )
    try:
        with db.write() as session:
            if session.get(OAuthClient, client_id) is not None:
                raise Conflict(f"client {client_id!r} already exists")
            session.add(row)
            session.flush()
            audit.record(session, actor.username, "oauth_client_added", target=client_id)
            return _from_row(row), secret
    except IntegrityError as exc:
        raise Conflict(f"client {client_id!r} already exists") from exc


def remove_client(db: Database, actor: Principal, client_id: str) -> None:
    """Unregister a client and revoke every sign-in made through it."""
    if client_id in BUILTIN:
        raise Conflict(f"client {client_id!r} is built in and cannot be removed")
    with db.write() as session:
        row = session.get(OAuthClient, client_id)
        if row is None:
            raise NotFound(f"client {client_id!r} does not exist")
        session.delete(row)
        session.execute(
            update(OAuthGrant)
            .where(OAuthGrant.client_id == client_id, OAuthGrant.revoked_ms.is_(None))
            .values(revoked_ms=now_ms(), revoked_reason="the client was unregistered")
        )
        audit.record(session, actor.username, "oauth_client_removed", target=client_id)
