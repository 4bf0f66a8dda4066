"""Web pages: CSRF on every form, cookie flags, response headers, redirects that stay home."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.accounts import PASSWORD, new_channel, new_key, new_user
from tests.support.server import Server
from tests.support.ui import browser, csrf_of, sign_in

# On the SQLite pass only (CSRF, cookie flags, headers and redirects; the sign-in rate limit is kept in memory).
pytestmark = pytest.mark.backend_independent


def test_a_form_posted_without_its_csrf_token_is_refused(server: Server) -> None:
    user = new_user(server, "csrf")
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    with sign_in(server, user) as http:
        token = csrf_of(http.get("/new"))
        for fields in ({}, {"csrf_token": ""}, {"csrf_token": "forged" + token[6:]}):
            response = http.post("/new", data={"name": name, "visibility": "public", **fields})
            assert response.status_code == 403, response.text
            assert "CSRF" in response.text
        assert http.get(f"/channels/{name}").status_code == 404  # nothing was made
        # The same form with its token works.
        response = http.post("/new", data={"name": name, "visibility": "public", "csrf_token": token})
        assert response.status_code == 303
        assert http.get(f"/channels/{name}").status_code == 200
        # Another form, another action: a member added without a token is refused too.
        assert http.post(f"/channels/{name}/members", data={"username": user, "role": "viewer"}).status_code == 403
        assert http.post("/logout").status_code == 403
        assert http.get("/settings").status_code == 200  # still signed in


def test_the_sign_in_form_needs_its_token_too(server: Server) -> None:
    user = new_user(server, "login")
    with browser(server) as http:
        response = http.post("/login", data={"username": user, "password": PASSWORD})
        assert response.status_code == 403
        assert "taipan_session" not in http.cookies
    # A token from another browser (another cookie) does not fit either.
    with browser(server) as other, browser(server) as http:
        stolen = csrf_of(other.get("/login"))
        http.get("/login")
        response = http.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": stolen})
        assert response.status_code == 403


def test_session_cookie_flags_and_sign_out(server: Server) -> None:
    user = new_user(server, "cookie")
    with browser(server) as http:
        page = http.get("/login")
        csrf_cookie = page.headers["set-cookie"].lower()
        assert "taipan_csrf=" in csrf_cookie
        assert "httponly" in csrf_cookie
        assert "samesite=lax" in csrf_cookie
        response = http.post(
            "/login", data={"username": user, "password": PASSWORD, "next": "/settings", "csrf_token": csrf_of(page)}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/settings"
        cookie = response.headers["set-cookie"].lower()
        assert "taipan_session=" in cookie
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/" in cookie
        assert "secure" not in cookie  # http://127.0.0.1: Secure is set when the public URL is https
        settings = http.get("/settings")
        assert settings.status_code == 200
        out = http.post("/logout", data={"csrf_token": csrf_of(settings)})
        assert out.status_code == 303
        assert http.get("/settings").status_code == 303  # back to the sign-in page


def test_cookies_are_secure_behind_https(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_PUBLIC_URL": "https://taipan.example"}) as srv, browser(srv) as http:
        assert "secure" in http.get("/login").headers["set-cookie"].lower()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"])
def test_sign_in_redirects_stay_on_this_site(server: Server, target: str) -> None:
    user = new_user(server, "next")
    with browser(server) as http:
        page = http.get("/login", params={"next": target})
        response = http.post(
            "/login", data={"username": user, "password": PASSWORD, "next": target, "csrf_token": csrf_of(page)}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/"


def test_pages_send_protective_headers(server: Server) -> None:
    with browser(server) as http:
        for path in ("/", "/login", "/search?q=x"):
            headers = http.get(path).headers
            csp = headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["cache-control"] == "no-store"


def test_wrong_password_and_rate_limit_on_the_sign_in_page(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_AUTH_FAILURE_LIMIT": "3"}) as srv, browser(srv) as http:
        statuses = []
        for _ in range(5):
            page = http.get("/login")
            response = http.post(
                "/login", data={"username": "nobody", "password": "wrong one!", "csrf_token": csrf_of(page)}
            )
            statuses.append(response.status_code)
        assert statuses[:3] == [401, 401, 401]
        assert statuses[3:] == [429, 429]


def test_api_keys_page_shows_a_key_once_and_it_works(server: Server) -> None:
    user = new_user(server, "keys")
    channel = new_channel(server, new_key(server, user), private=True)
    with sign_in(server, user) as http:
        page = http.get("/settings/keys", params={"channel": channel})
        assert f'value="{channel}" selected' in page.text
        made = http.post(
            "/settings/keys",
            data={
                "csrf_token": csrf_of(page),
                "name": "ci <reader>",
                "channel": channel,
                "role": "viewer",
                "expires_days": "30",
            },
        )
        assert made.status_code == 200
        key = made.text.split('id="new-key">', 1)[1].split("<", 1)[0]
        assert key.startswith("taipan-")
        assert "ci &lt;reader&gt;" in made.text
        assert made.headers["cache-control"] == "no-store"
        listing = http.get("/settings/keys")
        assert key not in listing.text  # shown once
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
            assert api.get(f"/{channel}/noarch/repodata.json").status_code == 200
            assert api.post("/api/v1/channels", json={"name": f"x-{uuid.uuid4().hex[:6]}"}).status_code == 403
        row = listing.text.split("ci &lt;reader&gt;", 1)[1]
        key_id = row.split('action="/settings/keys/', 1)[1].split("/", 1)[0]
        assert http.post(f"/settings/keys/{key_id}/revoke", data={"csrf_token": csrf_of(listing)}).status_code == 303
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
            assert api.get(f"/{channel}/noarch/repodata.json").status_code == 401
        assert "revoked" in http.get("/settings/keys").text
