"""Drive the web pages over HTTP as a browser without JavaScript would: cookies, forms, CSRF."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.accounts import PASSWORD
from tests.support.server import TLS, Server

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(server: Server) -> httpx.Client:
    """A client with a cookie jar and no credentials, like a fresh browser."""
    return httpx.Client(base_url=server.url, timeout=60, verify=TLS)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_RE.search(page.text)
    assert found, f"no CSRF field on {page.url}"
    return html.unescape(found.group(1))


def post_form(client: httpx.Client, page_path: str, action: str, fields: dict[str, str]) -> httpx.Response:
    """Open ``page_path``, then post ``fields`` to ``action`` with the page's CSRF token."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_of(page), **fields})


@contextmanager
def sign_in(server: Server, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A browser signed in through the sign-in page: ``with sign_in(server, "alice") as http:``."""
    with browser(server) as client:
        response = post_form(client, "/login", "/login", {"username": username, "password": password, "next": "/"})
        assert response.status_code == 303, response.text
        yield client


def text_of(page: httpx.Response) -> str:
    """The page's visible text, roughly: tags removed, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", page.text)
    return " ".join(html.unescape(without_tags).split())
