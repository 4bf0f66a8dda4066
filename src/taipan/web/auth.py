"""Find the credential a request carries, in any of the forms conda clients send.

Forms: ``Authorization: Bearer <key>``, ``Authorization: token <key>``,
``X-API-Key: <key>``, HTTP Basic with the key as the password, and ``/t/<key>/`` at the
start of the path (moved into the request scope by :class:`TokenPathMiddleware`).
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from taipan.accounts.keys import Principal, principal_for_key
from taipan.db.engine import Database
from taipan.errors import Forbidden, Unauthenticated

PATH_TOKEN = "taipan.path_token"  # noqa: S105 - a scope key, not a secret


class TokenPathMiddleware:
    """Strip ``/t/<key>`` from the front of the path and remember the key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/t/"):
            token, sep, rest = scope["path"][3:].partition("/")
            if token and sep:
                scope = dict(scope)
                scope["path"] = "/" + rest
                scope["raw_path"] = scope["path"].encode()
                scope.setdefault("state", {})
                scope["state"] = {**scope["state"], PATH_TOKEN: token}
        await self.app(scope, receive, send)


def presented_key(request: Request) -> str | None:
    """The API key the request presents, if any; a malformed Authorization header is an error."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme in ("bearer", "token") and value:
            return value
        if scheme == "basic":
            return _basic_password(value)
        raise Unauthenticated("unsupported Authorization header: use Bearer, token or Basic")
    if key := request.headers.get("x-api-key"):
        return key.strip()
    token = request.scope.get("state", {}).get(PATH_TOKEN)
    return str(token) if token else None


def _basic_password(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    _, sep, password = decoded.partition(":")
    if not sep or not password:
        raise Unauthenticated("malformed Basic credentials")
    return password


def authenticate(request: Request, db: Database) -> Principal | None:
    """The caller, None when anonymous; a credential that is presented but bad is an error."""
    key = presented_key(request)
    if key is None:
        return None
    principal = principal_for_key(db, key)
    if principal is None:
        raise Unauthenticated("the API key is not valid")
    return principal


def require_admin(request: Request, db: Database) -> Principal:
    principal = authenticate(request, db)
    if principal is None:
        raise Unauthenticated("this needs an API key: send it as 'Authorization: Bearer <key>'")
    if not principal.is_admin:
        raise Forbidden("this needs the admin token")
    return principal
