"""Input no route expects: out-of-range integers on every route that takes one, then a bounded
schemathesis run over the whole OpenAPI description. Nothing may answer 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode

from taipan.web.params import DB_INT_MAX, ID_MAX, MAX_LIMIT
from tests.support import packages
from tests.support.accounts import PASSWORD
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.ui import csrf_of, sign_in
from tests.support.upload import upload_raw

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


# --- schemathesis over the whole OpenAPI description ----------------------------------------

EXAMPLES = 3
"""Per operation, per mode, per caller: about 450 requests in all, in well under a minute."""
CHANNEL_PARAMETERS = ("name", "channel", "owner")


@dataclass
class Fuzzed:
    """A server of the fuzzer's own (what it breaks stays there), with a throwaway administrator
    and a channel holding one package."""

    server: Server
    channel: str
    minter: httpx.Client
    """Signed in as the throwaway administrator by session, which no key revocation ends."""

    def fresh_key(self) -> str:
        response = self.minter.post("/api/v1/tokens", json={"name": "fuzz"})
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


@pytest.fixture(scope="module")
def fuzzed(server_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_AUTH_FAILURE_LIMIT": "1000000"}) as srv:
        name, channel = f"fuzz-{uuid.uuid4().hex[:6]}", f"fuzz-{uuid.uuid4().hex[:6]}"
        package = packages.build(Spec("fuzzpkg"), tmp_path_factory.mktemp("fuzzpkg"))
        with srv.client() as http:
            body = {"username": name, "password": PASSWORD, "is_admin": True}
            assert http.post("/api/v1/users", json=body).status_code == 201
            assert http.post("/api/v1/channels", json={"name": channel}).status_code == 201
            assert upload_raw(http, channel, package).status_code == 200
        with httpx.Client(base_url=srv.url, timeout=60) as minter:
            login = minter.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
            assert login.status_code == 200, login.text
            minter.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            yield Fuzzed(srv, channel, minter)


def negatable(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> bool:
    """Whether wrong input can be drawn for it: a number parameter or a JSON body. (Any string
    is a valid string parameter, and any bytes a raw body: Hypothesis would search in vain.)"""
    definition = operation.definition.raw
    numbers = ('"integer"', '"number"')
    return "application/json" in definition.get("requestBody", {}).get("content", {}) or any(
        kind in json.dumps(p.get("schema", {})) for p in definition.get("parameters", []) for kind in numbers
    )


def strategies(
    operation: schemathesis.APIOperation[Any, Any, Any, Any], pinned: dict[str, str]
) -> Iterator[SearchStrategy[Case[Any]]]:
    path = {p: v for p, v in pinned.items() if p in _path_names(operation)}
    yield operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path or None)
    if negatable(operation):
        yield operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=path or None)


def _path_names(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> set[str]:
    return {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_no_request_is_a_server_error(fuzzed: Fuzzed, caller: str) -> None:
    """Anonymous requests draw every parameter; an administrator's (each with a key of its
    own, so revoking it harms nothing) aim channel parameters at a real channel so as to get
    past the 404s. Every 5xx is collected with the request that caused it."""
    schema = schemathesis.openapi.from_url(f"{fuzzed.server.url}/openapi.json")
    pinned = {name: fuzzed.channel for name in CHANNEL_PARAMETERS} if caller == "admin" else {}
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here, failing the test
            for strategy in strategies(operation, pinned):

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def send(case: Case[Any]) -> None:
                    headers = {"Authorization": f"Bearer {fuzzed.fresh_key()}"} if caller == "admin" else {}
                    response = case.call(base_url=fuzzed.server.url, session=session, headers=headers, timeout=60)
                    if response.status_code >= 500:
                        failures.append(f"{response.status_code}: {case.as_curl_command(headers=headers)}")

                send()
    assert not failures, "\n".join(failures)
