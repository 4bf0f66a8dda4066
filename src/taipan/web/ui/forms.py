"""Who is looking at a page, and forms they post: sessions, cookies and CSRF.

Pages know visitors only by the session cookie (API credentials are for the API). Every
form carries a CSRF token that must come back with the post: a signed-in visitor's is the
session's own (the one the API wants in ``X-CSRF-Token``, so page scripts can call the
API); an anonymous visitor's (sign-in and sign-up forms) is a random value also kept in a
cookie (double submit). Cookies are HttpOnly and SameSite=Lax, and Secure whenever the
server's public URL is https.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from taipan.accounts import sessions
from taipan.accounts.principal import Principal
from taipan.errors import Forbidden, InvalidInput, TooLarge, Unauthenticated
from taipan.settings import Settings
from taipan.web.auth import SESSION_COOKIE
from taipan.web.deps import services

CSRF_COOKIE = "taipan_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 256 * 1024
VISITOR = "taipan.ui.visitor"
CSRF_REFUSED = (
    "the form was refused because its security token (CSRF) is missing or out of date: "
    "reload the page and send it again"
)


@dataclass(frozen=True)
class Visitor:
    who: Principal | None
    csrf: str
    new_csrf_cookie: bool = False
    """An anonymous visitor's CSRF token was made for this response: set its cookie."""

    def user(self) -> Principal:
        if self.who is None:
            raise Unauthenticated("sign in to do this")
        return self.who


def visitor(request: Request) -> Visitor:
    """The signed-in user (or anonymous) and the CSRF token forms must echo. Cached per request."""
    cached = request.scope.get("state", {}).get(VISITOR)
    if isinstance(cached, Visitor):
        return cached
    found = _visitor(request)
    request.scope.setdefault("state", {})[VISITOR] = found
    return found


def _visitor(request: Request) -> Visitor:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        signed_in = sessions.principal_for_session(services(request).db, token)
        if signed_in is not None:
            return Visitor(*signed_in)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(csrf) <= 100:
        return Visitor(None, csrf)
    return Visitor(None, secrets.token_urlsafe(32), new_csrf_cookie=True)


@dataclass(frozen=True)
class Posted:
    """A form that passed the CSRF check."""

    visitor: Visitor
    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1", "yes")


async def posted(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Posted:
    """Read a small urlencoded form and check its CSRF token before anything else happens."""
    fields = parse_form(await read_form(request))
    given = fields.get(CSRF_FIELD, [""])[0]
    if not check_csrf(who, given):
        raise Forbidden(CSRF_REFUSED)
    return Posted(who, fields)


def check_csrf(who: Visitor, given: str) -> bool:
    return bool(given) and not who.new_csrf_cookie and secrets.compare_digest(given.encode(), who.csrf.encode())


async def read_form(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return b""  # no fields, so no CSRF token: refused as a forged form
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise TooLarge(f"the form is larger than {MAX_FORM_BYTES} bytes")
    return bytes(body)


def parse_form(body: bytes) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the form is not valid") from exc
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    return fields


def secure_cookies(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
        path="/",
    )


def set_csrf_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, max_age=86_400, httponly=True, secure=secure_cookies(settings), samesite="lax", path="/"
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=secure_cookies(settings), samesite="lax")


def local_path(target: str, default: str = "/") -> str:
    """``target`` if it is a path on this site (never another host: no open redirects)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and all(c.isprintable() for c in target):
        return target
    return default


ViewerDep = Annotated[Visitor, Depends(visitor)]
Form = Annotated[Posted, Depends(posted)]
