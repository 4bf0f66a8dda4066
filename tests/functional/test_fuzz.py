"""Input no route expects: out-of-range integers on every route that takes one, then a bounded
schemathesis run over the whole OpenAPI description. Nothing may answer 500."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from taipan.web.params import DB_INT_MAX, ID_MAX, MAX_LIMIT
from tests.support.accounts import PASSWORD
from tests.support.server import Server
from tests.support.ui import csrf_of, sign_in

HUGE = ("9" * 40, "-" + "9" * 40, str(2**64))


def out_of_range(largest: int, smallest: int = 1) -> tuple[str, ...]:
    """Just past each end, and far past both (SQLite holds 64 bits, PostgreSQL's ids 32)."""
    return (str(largest + 1), str(smallest - 1), *HUGE)


@pytest.fixture(scope="module")
def admin_user(server: Server) -> str:
    """An administrator with a password, for the pages (the bootstrap admin has only a key)."""
    name = f"fuzz-admin-{uuid.uuid4().hex[:6]}"
    with server.client() as http:
        response = http.post("/api/v1/users", json={"username": name, "password": PASSWORD, "is_admin": True})
        assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def fuzz_channel(server: Server) -> str:
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        assert http.post("/api/v1/channels", json={"name": name}).status_code == 201
    return name


# (method, route, the largest value it takes, the smallest)
API_ROUTES = (
    ("DELETE", "/api/v1/tokens/{n}", ID_MAX, 1),
    ("GET", "/api/v1/audit?before_id={n}", ID_MAX, 1),
    ("GET", "/api/v1/audit?limit={n}", MAX_LIMIT, 1),
    ("GET", "/api/v1/channels/{channel}/files?offset={n}", DB_INT_MAX, 0),
    ("GET", "/api/v1/channels/{channel}/files?limit={n}", 10_000, 1),
    ("GET", "/api/v1/channels/{channel}/audit?limit={n}", MAX_LIMIT, 1),
    ("DELETE", "/api/v1/channels/{channel}/publishers/{n}", ID_MAX, 1),
)


@pytest.mark.parametrize(("method", "route", "largest", "smallest"), API_ROUTES)
def test_out_of_range_integers_are_refused_by_the_api(
    server: Server, fuzz_channel: str, method: str, route: str, largest: int, smallest: int
) -> None:
    with server.client() as http:
        for value in out_of_range(largest, smallest):
            response = http.request(method, route.format(n=value, channel=fuzz_channel))
            assert response.status_code == 422, (value, response.status_code, response.text)


@pytest.mark.parametrize(("method", "route", "largest", "smallest"), API_ROUTES)
def test_the_ends_of_the_range_are_taken(
    server: Server, fuzz_channel: str, method: str, route: str, largest: int, smallest: int
) -> None:
    """The largest and smallest values reach the database, which answers (a missing id: 404).
    Only lookups get the smallest: id 1 is the bootstrap administrator's key."""
    with server.client() as http:
        for value in (largest, smallest) if method == "GET" else (largest,):
            response = http.request(method, route.format(n=value, channel=fuzz_channel))
            assert response.status_code in (200, 404), (value, response.status_code, response.text)


UI_FORMS = (
    "/settings/keys/{n}/revoke",
    "/admin/invitations/{n}/revoke",
    "/channels/{channel}/publishers/{n}/remove",
)


@pytest.fixture(scope="module")
def admin_browser(server: Server, admin_user: str) -> Iterator[httpx.Client]:
    with sign_in(server, admin_user) as http:
        yield http


@pytest.mark.parametrize("action", UI_FORMS)
def test_out_of_range_integers_are_refused_by_the_pages(
    admin_browser: httpx.Client, fuzz_channel: str, action: str
) -> None:
    csrf = csrf_of(admin_browser.get("/settings/keys"))
    for value in (*out_of_range(ID_MAX), str(ID_MAX)):
        response = admin_browser.post(action.format(n=value, channel=fuzz_channel), data={"csrf_token": csrf})
        assert response.status_code in (400, 404), (value, response.status_code, response.text)
