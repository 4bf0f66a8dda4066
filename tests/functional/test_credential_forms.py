"""How credentials arrive: ambiguous ones are refused, keys never reach the log, forwarded
headers are believed only from configured proxies, and a new password ends other sessions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support import accounts, cli
from tests.support.accounts import PASSWORD, basic, bearer
from tests.support.server import Server
from tests.support.ui import post_form, sign_in

NEW_PASSWORD = "a whole new password"


# -- ambiguous credentials -----------------------------------------------------------------------


def test_two_different_credentials_are_refused(server: Server) -> None:
    user = accounts.new_user(server, "amb")
    key = accounts.new_key(server, user)
    bad = "taipan-" + "x" * 40
    with httpx.Client(base_url=server.url) as http:
        for path, headers in (
            ("/api/v1/me", {**bearer(key), "X-API-Key": bad}),
            ("/api/v1/me", {**bearer(bad), "X-API-Key": key}),
            (f"/t/{bad}/api/v1/me", bearer(key)),
            (f"/t/{key}/api/v1/me", {"X-API-Key": bad}),
            (f"/t/{key}/api/v1/me", basic(user, PASSWORD)),
        ):
            refused = http.get(path, headers=headers)
            assert refused.status_code == 400, (path, headers, refused.text)
            assert "two different credentials" in refused.json()["error"]
        message = http.get(f"/t/{bad}/api/v1/me", headers={"X-API-Key": key}).json()["error"]
        assert "X-API-Key" in message
        assert "/t/<key>/" in message
        # One credential sent twice is one credential.
        for path, headers in (
            ("/api/v1/me", {**bearer(key), "X-API-Key": key}),
            (f"/t/{key}/api/v1/me", bearer(key)),
            (f"/t/{key}/api/v1/me", basic("anyone", key)),
        ):
            same = http.get(path, headers=headers)
            assert same.status_code == 200, (path, same.text)
            assert same.json()["username"] == user


def test_a_key_beats_the_session_cookie(server: Server) -> None:
    """A browser that is signed in may call the API with a key: the key decides, the cookie is unused."""
    alice, bob = accounts.new_user(server, "ck"), accounts.new_user(server, "ck")
    bob_key = accounts.new_key(server, bob)
    with sign_in(server, alice) as http:
        assert http.get("/api/v1/me").json()["username"] == alice
        assert http.get("/api/v1/me", headers=bearer(bob_key)).json()["username"] == bob
        assert http.get("/api/v1/me", headers=bearer("taipan-" + "y" * 40)).status_code == 401


# -- keys never reach the log ------------------------------------------------------------------


@pytest.mark.backend_independent  # the access log is written by the HTTP server
def test_keys_never_reach_the_access_log(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_ACCESS_LOG": "true", "TAIPAN_AUTH_FAILURE_LIMIT": "1000"}) as srv:
        user = accounts.new_user(srv, "log")
        key = accounts.new_key(srv, user)
        secret = key.removeprefix("taipan-")
        encoded = "".join(f"%{b:02X}" for b in key.encode())
        with httpx.Client(base_url=srv.url) as http:
            for path in (
                f"/t/{key}",
                f"/t/{key}/",
                f"/t/{key}/noarch/repodata.json",
                f"/conda/t/{key}",
                f"/conda/t/{key}/",
                f"/conda/t/{key}/some-channel/noarch/repodata.json",
                f"/%74/{key}/api/v1/me",
                f"/t/{encoded}",
                f"/t/{encoded}/api/v1/me",
                f"/api/v1/me?token={key}",
                f"/some-channel/noarch/{key}",
                f"/api/v1/tokens/{key}",
            ):
                http.get(path)
            assert http.get(f"/t/{key}").status_code == 200  # the key worked: the site's front page
            assert http.get(f"/t/{key}/api/v1/me").json()["username"] == user
            assert http.get(f"/conda/t/{key}/api/v1/me").json()["username"] == user
        log = srv.log.read_text()
        assert "/api/v1/me" in log  # the access log is on
        assert secret not in log
        assert encoded not in log


# -- X-Forwarded-For ---------------------------------------------------------------------------


def _login_addresses(srv: Server, username: str) -> list[str | None]:
    with srv.client() as http:
        events = http.get("/api/v1/audit", params={"limit": 1000}).json()
    return [e["address"] for e in events if e["actor"] == username and e["action"] == "login_failed"]


@pytest.mark.backend_independent  # addresses and the rate limiter, both in memory
def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(server_factory) -> None:  # type: ignore[no-untyped-def]
    limits = {"TAIPAN_AUTH_FAILURE_LIMIT": "3", "TAIPAN_AUTH_FAILURE_WINDOW": "600"}
    with server_factory(limits) as srv, httpx.Client(base_url=srv.url) as http:
        name = f"xff-{uuid.uuid4().hex[:6]}"
        for n in range(3):
            forged = {"X-Forwarded-For": f"203.0.113.{n}"}
            failed = http.post("/api/v1/auth/login", json={"username": name, "password": "wrong!!!"}, headers=forged)
            assert failed.status_code == 401
            if n == 1:  # before the limit blocks this address's audit reads too
                assert _login_addresses(srv, name) == ["127.0.0.1"] * 2
        # One bucket for the real peer: a fourth forged address is still limited.
        again = http.get("/api/v1/me", headers={**bearer(srv.token), "X-Forwarded-For": "198.51.100.7"})
        assert again.status_code == 429
    trusted = {"TAIPAN_TRUSTED_PROXIES": "127.0.0.1"}
    with server_factory(trusted) as srv, httpx.Client(base_url=srv.url) as http:
        name = f"xff-{uuid.uuid4().hex[:6]}"
        chain = {"X-Forwarded-For": "203.0.113.5, 127.0.0.1"}
        http.post("/api/v1/auth/login", json={"username": name, "password": "wrong!!!"}, headers=chain)
        assert _login_addresses(srv, name) == ["203.0.113.5"]


# -- a new password ends the other sessions ------------------------------------------------------


@contextmanager
def _login(srv: Server, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url) as http:
        response = http.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        http.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield http


def test_changing_the_password_ends_the_other_sessions(server: Server) -> None:
    name = accounts.new_user(server, "pw")
    key = accounts.new_key(server, name)
    with _login(server, name) as here, _login(server, name) as elsewhere:
        changed = here.put("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert changed.status_code == 204
        assert here.get("/api/v1/me").status_code == 200  # this session stays
        assert elsewhere.get("/api/v1/me").status_code == 401
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        assert http.get("/api/v1/me").status_code == 200  # keys are not sessions
        # Changing it with the key ends every session.
        with _login(server, name, NEW_PASSWORD) as other:
            body = {"current_password": NEW_PASSWORD, "new_password": PASSWORD}
            assert http.put("/api/v1/me/password", json=body).status_code == 204
            assert other.get("/api/v1/me").status_code == 401
    read_only = accounts.new_key(server, name, read_only=True)
    with httpx.Client(base_url=server.url, headers=bearer(read_only)) as http:
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert http.put("/api/v1/me/password", json=body).status_code == 403


def test_changing_the_password_in_the_web_ui_ends_the_other_sessions(server: Server) -> None:
    name = accounts.new_user(server, "uipw")
    with sign_in(server, name) as here, sign_in(server, name) as elsewhere:
        fields = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        changed = post_form(here, "/settings", "/settings/password", fields)
        assert changed.status_code == 200
        assert "has been changed" in changed.text
        assert here.get("/settings").status_code == 200
        signed_out = elsewhere.get("/settings")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/login")


def test_an_administrators_password_reset_ends_every_session(server: Server) -> None:
    name = accounts.new_user(server, "reset")
    with _login(server, name) as session:
        reset = cli.taipan("user", "password", name, "--password-stdin", stdin=NEW_PASSWORD + "\n", env=server.env())
        assert reset.returncode == 0, reset.stderr
        assert session.get("/api/v1/me").status_code == 401
    with _login(server, name, NEW_PASSWORD) as session:
        assert session.get("/api/v1/me").status_code == 200
