"""Find out who is calling, from whatever credential form the client sends.

Forms: ``Authorization: Bearer <key>``, ``Authorization: token <key>``, ``X-API-Key:
<key>``, HTTP Basic with ``user:password`` or with any user name and a key as the
password, ``/t/<key>/`` in front of the path (moved into the request scope by
:class:`TokenPathMiddleware`), and the session cookie of a signed-in user. A
credential that is presented but wrong is an error (401), never silently anonymous.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from taipan.accounts import principal as principal_rules
from taipan.accounts import sessions
from taipan.accounts.keys import looks_like_key, principal_for_key
from taipan.accounts.principal import Principal
from taipan.errors import Forbidden, InvalidInput, Unauthenticated
from taipan.oauth.tokens import looks_like_access_token
from taipan.services import Services

PATH_TOKEN = "taipan.path_token"  # noqa: S105 - a scope key, not a secret
PRINCIPAL = "taipan.principal"
SESSION_COOKIE = "taipan_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenPathMiddleware:
    """Strip ``/t/<key>`` from the front of the path and remember the key.

    rattler and mamba put it at the path root; conda puts it after the channel location,
    which keeps a first ``/conda`` segment. So ``/conda`` in front is dropped too: every
    channel is also served under ``/conda/`` (a ``channel_alias`` of ``https://host/conda``).
    ``/t/<key>`` with nothing after it is ``/t/<key>/``: the key leaves the path in every
    form, so nothing further in (routing, the access log, error pages) ever sees it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = strip_token_path(scope)
        await self.app(scope, receive, send)


def strip_token_path(scope: Scope) -> Scope:
    """``scope`` without a ``/conda`` or ``/t/<key>`` prefix (the key kept in its state)."""
    path: str = scope["path"]
    if path.startswith("/conda/"):
        path = path[len("/conda") :]
    state = scope.get("state", {})
    if path.startswith("/t/"):
        token, _, rest = path[3:].partition("/")
        if token:
            path = "/" + rest
            state = {**state, PATH_TOKEN: token}
    if path == scope["path"]:
        return scope
    # Keep the client's own encoding of the rest of the path in raw_path.
    cut = len(scope["path"]) - len(path)
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    kept = scope["path"].endswith(path) and raw[:cut].decode("latin-1") == scope["path"][:cut]
    raw_rest = raw[cut:] if kept else path.encode()
    return {**scope, "path": path, "raw_path": raw_rest, "state": state}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def principal(request: Request, svc: Services) -> Principal | None:
    """The caller (cached on the request), None when anonymous."""
    if PRINCIPAL in request.scope.get("state", {}):
        cached: Principal | None = request.scope["state"][PRINCIPAL]
        return cached
    found = _authenticate(request, svc)
    request.scope.setdefault("state", {})[PRINCIPAL] = found
    return found


def require_user(request: Request, svc: Services) -> Principal:
    found = principal(request, svc)
    if found is None:
        raise Unauthenticated("this needs you to sign in or send an API key (Authorization: Bearer <key>)")
    return found


def require_admin(request: Request, svc: Services) -> Principal:
    """A server administrator; for a request that may change something, an unnarrowed credential."""
    return principal_rules.require_admin(require_user(request, svc), changing=request.method not in SAFE_METHODS)


def _authenticate(request: Request, svc: Services) -> Principal | None:
    credential = _presented(request)
    if credential is None:
        return _from_session(request, svc)
    address = client_address(request)
    svc.limiter.check(address)
    try:
        return _verify(svc, *credential)
    except Unauthenticated:
        svc.limiter.failed(address)
        raise


def _verify(svc: Services, username: str | None, secret: str) -> Principal:
    if looks_like_access_token(secret):  # OAuth: a bearer token, never a password (RFC 6750)
        if username is not None:
            raise Unauthenticated("an OAuth access token is a bearer token: send it as Authorization: Bearer")
        return svc.oauth.principal_for_access_token(secret)
    if username is None or looks_like_key(secret):
        return principal_for_key(svc.db, secret)
    user = svc.passwords.check(username, secret)
    if user is None:
        raise Unauthenticated("wrong user name or password")
    return Principal(user.id, user.username, user.is_admin, via="password")


def _presented(request: Request) -> tuple[str | None, str] | None:
    """(user name or None, key or password) from headers or the path; None if nothing is presented.

    Several forms at once must be one credential (a key in both the header and the path is
    fine); two different ones are refused rather than one silently winning, so a bad one is
    never ignored. The session cookie is not among them: see :func:`_authenticate`.
    """
    found = [(form, credential) for form, credential in _forms(request) if credential is not None]
    if not found:
        return None
    if len({secret for _, (_, secret) in found}) > 1 or len({user for _, (user, _) in found} - {None}) > 1:
        forms = " and ".join(form for form, _ in found)
        raise InvalidInput(f"two different credentials were sent ({forms}): send one")
    users = [user for _, (user, _) in found if user is not None]
    return (users[0] if users else None), found[0][1][1]


def _forms(request: Request) -> Iterator[tuple[str, tuple[str | None, str] | None]]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme in ("bearer", "token") and value:
            yield "the Authorization header", (None, value)
        elif scheme == "basic":
            yield "the Authorization header", _basic(value)
        else:
            raise Unauthenticated("unsupported Authorization header: use Bearer, token or Basic")
    key = request.headers.get("x-api-key", "").strip()
    yield "the X-API-Key header", (None, key) if key else None
    token = request.scope.get("state", {}).get(PATH_TOKEN)
    yield "a /t/<key>/ path", (None, str(token)) if token else None


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not password:
        raise Unauthenticated("malformed Basic credentials")
    return username, password


def _from_session(request: Request, svc: Services) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = sessions.principal_for_session(svc.db, token)
    if found is None:
        return None  # an expired cookie is simply no sign-in
    who, csrf = found
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != csrf:
        raise Forbidden(f"a signed-in request that changes something must send the {CSRF_HEADER} header")
    return who
