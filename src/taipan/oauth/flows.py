"""The grants' flows: authorization code with PKCE, device code (RFC 8628), refresh.

Codes, device codes and refresh tokens are random and stored only as their sha256. Each
is good once: it is marked used by a conditional UPDATE, so of two requests racing with
one code only one wins, on SQLite and PostgreSQL alike. A second use is treated as a
theft: the grant it produced is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2) — and that
revocation is committed *before* the refusal is raised.

Every flow ends in a :class:`Granted`, which the provider turns into signed tokens
outside the database transaction (signing may need to rotate the key, which writes).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from taipan.db.engine import Database
from taipan.db.models import OAuthCode, OAuthDeviceCode, OAuthGrant, OAuthRefreshToken, User, now_ms
from taipan.errors import InvalidInput
from taipan.oauth import scopes
from taipan.oauth.clients import Client, find
from taipan.oauth.errors import OAuthError, invalid_grant, invalid_request
from taipan.oauth.scopes import Scope

CODE_TTL_S = 120
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alike digits
USER_CODE_LENGTH = 8
MAX_STATE_CHARS = 1024
MAX_NONCE_CHARS = 255
KEEP_EXPIRED_MS = 3600_000
"""Expired codes are kept this long, so a late poll hears expired_token rather than 'unknown'."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Granted:
    """What the tokens about to be signed stand for."""

    grant_id: int
    user_id: int
    username: str
    client_id: str
    scope: Scope
    refresh_token: str | None
    nonce: str = ""


def _grant(session: Session, user_id: int, client_id: str, scope: Scope, flow: str) -> OAuthGrant:
    grant = OAuthGrant(user_id=user_id, client_id=client_id, scope=scope.text, read_only=scope.read_only, flow=flow)
    session.add(grant)
    session.flush()
    return grant


def _refresh_token(session: Session, grant: OAuthGrant, scope: Scope, ttl_s: int) -> str | None:
    if not scope.refreshable:
        return None
    token = secrets.token_urlsafe(32)
    # Spent tokens are kept (to catch replays) only as long as they would have been valid.
    session.execute(
        delete(OAuthRefreshToken).where(OAuthRefreshToken.grant_id == grant.id, OAuthRefreshToken.expires_ms < now_ms())
    )
    session.add(OAuthRefreshToken(token_hash=digest(token), grant_id=grant.id, expires_ms=now_ms() + ttl_s * 1000))
    return token


def _granted(session: Session, grant: OAuthGrant, refresh_ttl_s: int, nonce: str = "") -> Granted:
    user = session.get(User, grant.user_id)
    if user is None:
        raise invalid_grant("the user of this grant no longer exists")
    scope = scopes.parse(grant.scope)
    token = _refresh_token(session, grant, scope, refresh_ttl_s)
    return Granted(grant.id, user.id, user.username, grant.client_id, scope, token, nonce)


def revoke_grant(session: Session, grant_id: int | None, reason: str) -> None:
    if grant_id is None:
        return
    session.execute(
        update(OAuthGrant)
        .where(OAuthGrant.id == grant_id, OAuthGrant.revoked_ms.is_(None))
        .values(revoked_ms=now_ms(), revoked_reason=reason)
    )


# -- authorization code with PKCE --------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scope: Scope
    state: str
    code_challenge: str
    nonce: str


class RedirectedError(OAuthError):
    """A refused authorization request whose redirect URI is trusted: tell the client there."""

    def __init__(self, code: str, description: str, redirect_uri: str, state: str) -> None:
        super().__init__(code, description)
        self.redirect_uri = redirect_uri
        self.state = state


def check_authorization(db: Database, params: Mapping[str, str]) -> AuthorizationRequest:
    """Validate an authorization request.

    An unknown client or a redirect URI it has not registered raises InvalidInput: the
    user is told, and nobody is redirected anywhere (RFC 6749 §4.1.2.1). Anything else
    wrong raises RedirectedError, to be sent back to the (now trusted) redirect URI.
    """
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    client = find(db, client_id) if client_id else None
    if client is None:
        raise InvalidInput(f"the application asking to sign you in is not registered here (client_id {client_id!r})")
    if not redirect_uri or not client.allows_redirect(redirect_uri):
        raise InvalidInput(
            f"the redirect URI {redirect_uri[:200]!r} is not registered for {client.name}: not sending you there"
        )
    state = params.get("state", "")
    if len(state) > MAX_STATE_CHARS:
        raise InvalidInput(f"the state parameter is longer than {MAX_STATE_CHARS} characters")

    def refuse(code: str, description: str) -> RedirectedError:
        return RedirectedError(code, description, redirect_uri, state)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    challenge, method = params.get("code_challenge", ""), params.get("code_challenge_method", "")
    if not challenge:
        raise refuse("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
    if method != "S256":
        raise refuse("invalid_request", "only code_challenge_method=S256 is supported")
    if not PKCE_RE.match(challenge):
        raise refuse("invalid_request", "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
    nonce = params.get("nonce", "")
    if len(nonce) > MAX_NONCE_CHARS:
        raise refuse("invalid_request", f"nonce is longer than {MAX_NONCE_CHARS} characters")
    try:
        scope = scopes.parse(params.get("scope"))
    except OAuthError as exc:
        raise refuse(exc.code, str(exc)) from None
    return AuthorizationRequest(client, redirect_uri, scope, state, challenge, nonce)


def issue_code(db: Database, request: AuthorizationRequest, user_id: int) -> str:
    code = secrets.token_urlsafe(32)
    with db.write() as session:
        session.execute(delete(OAuthCode).where(OAuthCode.expires_ms < now_ms() - KEEP_EXPIRED_MS))
        session.add(
            OAuthCode(
                code_hash=digest(code),
                user_id=user_id,
                client_id=request.client.client_id,
                redirect_uri=request.redirect_uri,
                scope=request.scope.text,
                code_challenge=request.code_challenge,
                nonce=request.nonce,
                expires_ms=now_ms() + CODE_TTL_S * 1000,
            )
        )
    return code


def exchange_code(
    db: Database, client: Client, code: str, redirect_uri: str, verifier: str, refresh_ttl_s: int
) -> Granted:
    """Trade a code for a grant. A code is spent by any attempt, good or bad (the verifier
    cannot be guessed at leisure); a second attempt revokes what the first one made."""
    if not code:
        raise invalid_request("the request has no code")
    with db.write() as session:
        row = session.get(OAuthCode, digest(code))
        if row is None or row.client_id != client.client_id:
            raise invalid_grant("the authorization code is not valid")
        claimed = session.execute(
            update(OAuthCode)
            .where(OAuthCode.code_hash == row.code_hash, OAuthCode.used_ms.is_(None))
            .values(used_ms=now_ms())
        )
        problem = _code_problem(row, redirect_uri, verifier)
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            revoke_grant(session, row.grant_id, "authorization code used twice")
            problem = invalid_grant("the authorization code has already been used; the sign-in it made is revoked")
        if problem is None:
            grant = _grant(session, row.user_id, client.client_id, scopes.parse(row.scope), "code")
            row.grant_id = grant.id
            return _granted(session, grant, refresh_ttl_s, row.nonce)
    raise problem


def _code_problem(row: OAuthCode, redirect_uri: str, verifier: str) -> OAuthError | None:
    if row.expires_ms <= now_ms():
        return invalid_grant("the authorization code has expired")
    if redirect_uri != row.redirect_uri:
        return invalid_grant("redirect_uri differs from the one in the authorization request")
    if not verifier:
        return invalid_grant("PKCE: the code_verifier is missing")
    if not PKCE_RE.match(verifier) or not secrets.compare_digest(s256(verifier), row.code_challenge):
        return invalid_grant("PKCE: the code_verifier does not match the code_challenge")
    return None


# -- device authorization (RFC 8628) ----------------------------------------------------------


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class DevicePending:
    client: Client
    scope: Scope
    user_code: str


def normalize_user_code(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())[:32]


def format_user_code(code: str) -> str:
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def start_device(db: Database, client: Client, scope: Scope, ttl_s: int, interval_s: int) -> DeviceStart:
    device_code = secrets.token_urlsafe(32)
    user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    with db.write() as session:
        session.execute(delete(OAuthDeviceCode).where(OAuthDeviceCode.expires_ms < now_ms() - KEEP_EXPIRED_MS))
        session.add(
            OAuthDeviceCode(
                device_code_hash=digest(device_code),
                user_code_hash=digest(user_code),
                client_id=client.client_id,
                scope=scope.text,
                interval_s=interval_s,
                expires_ms=now_ms() + ttl_s * 1000,
            )
        )
    return DeviceStart(device_code, format_user_code(user_code), ttl_s, interval_s)


def _pending(session: Session, user_code: str) -> OAuthDeviceCode:
    code = normalize_user_code(user_code)
    row = session.query(OAuthDeviceCode).filter_by(user_code_hash=digest(code)).one_or_none() if code else None
    if row is None or row.used_ms is not None or row.approved_ms is not None or row.denied_ms is not None:
        raise InvalidInput("that code is not valid (or already used): check it against the one your terminal shows")
    if row.expires_ms <= now_ms():
        raise InvalidInput("that code has expired: start the sign-in again in your terminal")
    return row


def find_device(db: Database, user_code: str) -> DevicePending:
    with db.read() as session:
        row = _pending(session, user_code)
        client = find(db, row.client_id)
        if client is None:
            raise InvalidInput("the application that asked for this code is no longer registered")
        return DevicePending(client, scopes.parse(row.scope), format_user_code(normalize_user_code(user_code)))


def decide_device(db: Database, user_code: str, user_id: int, allow: bool) -> None:
    with db.write() as session:
        row = _pending(session, user_code)
        row.user_id = user_id
        if allow:
            row.approved_ms = now_ms()
        else:
            row.denied_ms = now_ms()


def poll_device(db: Database, client: Client, device_code: str, refresh_ttl_s: int) -> Granted:
    if not device_code:
        raise invalid_request("the request has no device_code")
    problem: OAuthError | None = None
    with db.write() as session:
        row = session.get(OAuthDeviceCode, digest(device_code))
        if row is None or row.client_id != client.client_id:
            raise invalid_grant("the device code is not valid")
        now = now_ms()
        if row.used_ms is not None:
            revoke_grant(session, row.grant_id, "device code used twice")
            problem = invalid_grant("the device code has already been used; the sign-in it made is revoked")
        elif row.expires_ms <= now:
            problem = OAuthError("expired_token", "the device code has expired: start the sign-in again")
        elif row.last_poll_ms is not None and now - row.last_poll_ms < row.interval_s * 1000:
            row.last_poll_ms = now
            problem = OAuthError("slow_down", f"polling too fast: wait at least {row.interval_s} s between requests")
        elif row.denied_ms is not None:
            row.used_ms = now
            problem = OAuthError("access_denied", "the user refused the sign-in")
        elif row.approved_ms is None or row.user_id is None:
            row.last_poll_ms = now
            problem = OAuthError("authorization_pending", "the user has not entered the code yet")
        else:
            row.used_ms = now
            grant = _grant(session, row.user_id, client.client_id, scopes.parse(row.scope), "device")
            row.grant_id = grant.id
            return _granted(session, grant, refresh_ttl_s)
    raise problem


# -- refresh with rotation ------------------------------------------------------------------------


def refresh(db: Database, client: Client, token: str, scope_text: str | None, refresh_ttl_s: int) -> Granted:
    if not token:
        raise invalid_request("the request has no refresh_token")
    replayed = False
    with db.write() as session:
        row = session.get(OAuthRefreshToken, digest(token))
        grant = session.get(OAuthGrant, row.grant_id) if row else None
        if row is None or grant is None or grant.client_id != client.client_id:
            raise invalid_grant("the refresh token is not valid")
        if grant.revoked_ms is not None:
            raise invalid_grant("this sign-in has been revoked: sign in again")
        claimed = session.execute(
            update(OAuthRefreshToken)
            .where(OAuthRefreshToken.token_hash == row.token_hash, OAuthRefreshToken.used_ms.is_(None))
            .values(used_ms=now_ms())
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            replayed = True
            revoke_grant(session, grant.id, "a rotated refresh token was used again")
        else:
            if row.expires_ms <= now_ms():
                raise invalid_grant("the refresh token has expired: sign in again")
            if scope_text is not None and not scopes.parse(scope_text).names <= scopes.parse(grant.scope).names:
                raise OAuthError("invalid_scope", "a refresh cannot widen the scope of the sign-in")
            grant.last_used_ms = now_ms()
            return _granted(session, grant, refresh_ttl_s)
    assert replayed
    raise invalid_grant("the refresh token was already used (and replaced); the sign-in is revoked: sign in again")
