"""Rendering pages: the Jinja2 environment (autoescape on for every template), response
headers, redirects, and the route class that turns domain errors into HTML pages."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from taipan import __version__
from taipan.errors import TaipanError, Unauthenticated
from taipan.web.deps import services
from taipan.web.errors import status_for
from taipan.web.ui import forms

STATIC_DIR = Path(__file__).parent / "static"
# Pages load nothing from elsewhere; only a channel's avatar (an owner's choice) may be remote.
CSP = (
    "default-src 'self'; img-src 'self' https: http: data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show private channels, keys and CSRF tokens: no cache keeps them.
    "Cache-Control": "no-store",
}


class Templates:
    """The template environment of one app, built by ``site.install``."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("taipan.web.ui", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(size=human_size, when=when, web_url=web_url, part=url_part, num=number)
        self.env.globals.update(static=self.static_url, version=__version__)
        self._hashes = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC_DIR.iterdir() if p.is_file()
        }

    def static_url(self, name: str) -> str:
        """A URL that changes with the file's content, so browsers may cache it for long."""
        return f"/static/{name}?v={self._hashes.get(name, __version__)}"

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context)


def templates(request: Request) -> Templates:
    found: Templates = request.app.state.ui_templates
    return found


def page(request: Request, visitor: forms.Visitor, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` for ``visitor``."""
    svc = services(request)
    base = {
        "visitor": visitor,
        "who": visitor.who,
        "csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(forms.CSRF_FIELD, visitor.csrf),
        "signup_mode": svc.settings.signup,
        "public_url": svc.settings.public_url,
        "path": request.url.path,
        "q": "",
    }
    html = templates(request).render(name, {**base, **context})
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if visitor.new_csrf_cookie:
        forms.set_csrf_cookie(response, svc.settings, visitor.csrf)
    return response


def redirect(target: str) -> RedirectResponse:
    """See other: after a post, the browser fetches ``target`` with GET."""
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/login?next={quote(target, safe='/')}")


def page_number(value: str | int | None) -> int:
    try:
        return max(1, min(int(value or 1), 100_000))
    except ValueError:
        return 1


async def error_page(request: Request, exc: TaipanError, status: int | None = None) -> Response:
    """A domain error as a page; a GET that needs a sign-in goes to the sign-in page."""
    if isinstance(exc, Unauthenticated) and request.method in ("GET", "HEAD"):
        return login_redirect(request)
    try:
        who = await run_in_threadpool(forms.visitor, request)
    except TaipanError:
        who = forms.Visitor(None, "")
    response = await run_in_threadpool(
        page, request, who, "error.html", status or status_for(exc), message=str(exc), code=status or status_for(exc)
    )
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


class PageRoute(APIRoute):
    """Routes of pages answer errors with pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except TaipanError as exc:
                response = await error_page(request, exc)
            except RequestValidationError as exc:
                parts = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                response = await error_page(request, TaipanError(parts or "the request is not valid"), 400)
            # The page's own time (browsers show it with the request; bench/ui_pages.py reads it).
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            return response

        return handle


# -- filters ----------------------------------------------------------------------------


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def number(value: int) -> str:
    return f"{value:,}"


def web_url(url: str) -> str:
    """``url`` if it is an http(s) URL, else "": about.json is untrusted, never link ``javascript:``."""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def url_part(text: str) -> str:
    """One path segment, percent-encoded."""
    return quote(text, safe="")
