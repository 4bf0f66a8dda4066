"""Each way of misusing Taipan's OAuth provider is refused, saying why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.support import accounts, oauth, packages
from tests.support.dialects import artifactory_put, quetz_upload
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.ui import browser, csrf_of, post_form, sign_in, text_of
from tests.support.upload import upload_raw

REDIRECT = "http://127.0.0.1:40111/callback"


def _code(server: Server, username: str, scope: str = oauth.RATTLER_SCOPES) -> tuple[str, str]:
    """A fresh authorization code and its PKCE verifier."""
    verifier, challenge = oauth.pkce()
    query = oauth.browser_code(server, username, oauth.authorize_params(REDIRECT, challenge, scope))
    return query["code"][0], verifier


def _exchange(server: Server, code: str, verifier: str | None, redirect_uri: str = REDIRECT) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return oauth.token(server, **form)


def _refused(response: httpx.Response, error: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    description: str = body["error_description"]
    return description


def _reads(server: Server, token: str, channel: str) -> int:
    with httpx.Client(base_url=server.url, headers=accounts.bearer(token)) as http:
        return http.get(f"/{channel}/noarch/repodata.json").status_code


@pytest.fixture
def user(server: Server) -> str:
    return accounts.new_user(server, "oa")


def test_discovery_names_every_endpoint(server: Server) -> None:
    with oauth.cli(server) as http:
        found = http.get("/.well-known/openid-configuration").json()
        keys = http.get(urlsplit(found["jwks_uri"]).path).json()["keys"]
    assert found["issuer"] == server.url
    for name in ("authorization", "token", "device_authorization", "revocation"):
        assert found[f"{name}_endpoint"].startswith(server.url + "/oauth/")
    assert found["code_challenge_methods_supported"] == ["S256"]
    assert keys
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in keys)


# -- PKCE and codes ----------------------------------------------------------------------------


def test_wrong_or_missing_pkce_verifier_refused(server: Server, user: str) -> None:
    code, _ = _code(server, user)
    assert "code_verifier does not match" in _refused(_exchange(server, code, oauth.pkce()[0]), "invalid_grant")
    code, _ = _code(server, user)
    assert "code_verifier is missing" in _refused(_exchange(server, code, None), "invalid_grant")
    # A failed attempt spends the code: the right verifier is too late now.
    _refused(_exchange(server, code, oauth.pkce()[0]), "invalid_grant")


def test_code_used_twice_refused_and_revokes_what_it_made(server: Server, user: str) -> None:
    code, verifier = _code(server, user)
    first = _exchange(server, code, verifier)
    assert first.status_code == 200, first.text
    assert "already been used" in _refused(_exchange(server, code, verifier), "invalid_grant")
    tokens = first.json()
    with httpx.Client(base_url=server.url, headers=accounts.bearer(tokens["access_token"])) as http:
        response = http.get("/api/v1/me")
    assert response.status_code == 401
    _refused(oauth.token(server, grant_type="refresh_token", refresh_token=tokens["refresh_token"]), "invalid_grant")


def test_redirect_uri_must_match(server: Server, user: str) -> None:
    code, verifier = _code(server, user)
    assert "redirect_uri differs" in _refused(
        _exchange(server, code, verifier, "http://127.0.0.1:40112/callback"), "invalid_grant"
    )


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/cb", "http://evil.example:8000/", "http://127.0.0.1/", "http://127.0.0.1:80@evil.example/"],
)
def test_unregistered_redirect_uri_is_never_followed(server: Server, user: str, redirect_uri: str) -> None:
    params = oauth.authorize_params(redirect_uri, oauth.pkce()[1])
    with sign_in(server, user) as http:
        page = http.get("/oauth/authorize", params=params)
        assert page.status_code == 400
        assert "location" not in page.headers
        assert "not registered" in text_of(page)
        # Nor when the consent form is forged with it.
        posted = http.post("/oauth/authorize", data={**params, "csrf_token": csrf_of(page), "decision": "allow"})
        assert posted.status_code == 400
        assert "location" not in posted.headers


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid channel:raed"}, "invalid_scope"),
    ],
)
def test_bad_authorization_request_sent_back_to_client(
    server: Server, user: str, change: dict[str, str], error: str
) -> None:
    params = {**oauth.authorize_params(REDIRECT, oauth.pkce()[1]), **change}
    with sign_in(server, user) as http:
        page = http.get("/oauth/authorize", params=params)
    assert page.status_code == 303
    query = parse_qs(urlsplit(page.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == [params["state"]]
    assert "code" not in query


def test_consent_needs_sign_in_and_csrf(server: Server, user: str) -> None:
    params = oauth.authorize_params(REDIRECT, oauth.pkce()[1])
    with browser(server) as http:
        page = http.get("/oauth/authorize", params=params)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=/oauth/authorize")
    with sign_in(server, user) as http:
        forged = http.post("/oauth/authorize", data={**params, "decision": "allow"})
        assert forged.status_code == 403
        assert "location" not in forged.headers


def test_denied_consent_gives_no_code(server: Server, user: str) -> None:
    params = oauth.authorize_params(REDIRECT, oauth.pkce()[1])
    query = oauth.browser_code(server, user, params, decision="deny")
    assert query["error"] == ["access_denied"]
    assert "code" not in query


# -- the device flow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_server(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """Device codes that expire in 2 s, polled at most once a minute."""
    with server_factory({"TAIPAN_OAUTH_DEVICE_CODE_TTL": "2", "TAIPAN_OAUTH_DEVICE_POLL_INTERVAL": "60"}) as srv:
        yield srv


def test_device_polling_too_fast_then_expired(slow_server: Server) -> None:
    started = oauth.start_device(slow_server)
    assert started["interval"] == 60
    poll = {"grant_type": oauth.DEVICE_GRANT, "device_code": started["device_code"]}
    _refused(oauth.token(slow_server, **poll), "authorization_pending")
    assert "wait at least 60 s" in _refused(oauth.token(slow_server, **poll), "slow_down")
    time.sleep(2.5)
    _refused(oauth.token(slow_server, **poll), "expired_token")
    user = accounts.new_user(slow_server, "late")
    with sign_in(slow_server, user) as http:
        page = post_form(http, "/oauth/device", "/oauth/device", {"user_code": started["user_code"]})
    assert page.status_code == 400
    assert "expired" in text_of(page)


def test_device_code_wrong_user_code_and_denial(server: Server, user: str) -> None:
    with sign_in(server, user) as http:
        page = post_form(http, "/oauth/device", "/oauth/device", {"user_code": "BCDF-GHJK"})
    assert page.status_code == 400
    assert "not valid" in text_of(page)
    started = oauth.start_device(server)
    assert oauth.approve_device(server, user, started["user_code"], decision="deny").status_code == 200
    time.sleep(started["interval"])
    poll = {"grant_type": oauth.DEVICE_GRANT, "device_code": started["device_code"]}
    _refused(oauth.token(server, **poll), "access_denied")


def test_device_code_used_twice(server: Server, user: str) -> None:
    started = oauth.start_device(server)
    oauth.approve_device(server, user, started["user_code"])
    time.sleep(started["interval"])
    poll = {"grant_type": oauth.DEVICE_GRANT, "device_code": started["device_code"]}
    tokens = oauth.token(server, **poll).json()
    _refused(oauth.token(server, **poll), "invalid_grant")
    _refused(oauth.token(server, grant_type="refresh_token", refresh_token=tokens["refresh_token"]), "invalid_grant")


# -- refresh rotation -------------------------------------------------------------------------------------


def test_refresh_token_reuse_revokes_the_grant(server: Server, user: str) -> None:
    first = oauth.code_flow(server, user)
    second = oauth.token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    # The old one again: a replay. The whole sign-in ends, the new tokens with it.
    assert "already used" in _refused(
        oauth.token(server, grant_type="refresh_token", refresh_token=first["refresh_token"]), "invalid_grant"
    )
    assert "revoked" in _refused(
        oauth.token(server, grant_type="refresh_token", refresh_token=rotated["refresh_token"]), "invalid_grant"
    )
    with httpx.Client(base_url=server.url, headers=accounts.bearer(rotated["access_token"])) as http:
        response = http.get("/api/v1/me")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_refresh_needs_the_client_it_was_issued_to(server: Server, user: str) -> None:
    tokens = oauth.code_flow(server, user)
    response = oauth.token(server, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id="nope")
    _refused(response, "invalid_client", 401)
    _refused(oauth.token(server, grant_type="password", username=user, password="x"), "unsupported_grant_type")


# -- access tokens as credentials --------------------------------------------------------------------------


def _channel_with_package(server: Server, owner: str, pkgdir: Path) -> tuple[str, str]:
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    path = packages.build(Spec("sec-app", "1.0", "0"), pkgdir)
    with httpx.Client(base_url=server.url, headers=accounts.bearer(owner_key)) as http:
        assert upload_raw(http, channel, path).status_code == 200
    return channel, owner_key


def test_removed_member_token_loses_access(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "own")
    channel, owner_key = _channel_with_package(server, owner, pkgdir)
    member = accounts.new_user(server, "mem")
    accounts.add_member(server, owner_key, channel, member, "viewer")
    tokens = oauth.code_flow(server, member)
    assert _reads(server, tokens["access_token"], channel) == 200
    with httpx.Client(base_url=server.url, headers=accounts.bearer(owner_key)) as http:
        assert http.delete(f"/api/v1/channels/{channel}/members/{member}").status_code == 204
    assert _reads(server, tokens["access_token"], channel) in (403, 404)
    # Nor does a refresh bring the rights back: they are the user's, looked up on each request.
    refreshed = oauth.token(server, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert _reads(server, refreshed["access_token"], channel) in (403, 404)


def test_access_token_never_works_as_a_password(server: Server, user: str) -> None:
    tokens = oauth.code_flow(server, user)
    with httpx.Client(base_url=server.url, headers=accounts.basic(user, tokens["access_token"])) as http:
        response = http.get("/api/v1/me")
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]
    with browser(server) as http:
        page = post_form(http, "/login", "/login", {"username": user, "password": tokens["access_token"], "next": "/"})
        assert page.status_code == 401
        assert "wrong user name or password" in text_of(page)
    # Neither the ID token nor the refresh token is a credential.
    for other in (tokens["id_token"], tokens["refresh_token"]):
        with httpx.Client(base_url=server.url, headers=accounts.bearer(other)) as http:
            assert http.get("/api/v1/me").status_code == 401
    # A token whose signature is not the server's.
    forged = jwt.encode(
        jwt.decode(tokens["access_token"], options={"verify_signature": False}),
        "x" * 32,
        algorithm="HS256",
        headers={"typ": "at+jwt"},
    )
    with httpx.Client(base_url=server.url, headers=accounts.bearer(forged)) as http:
        assert http.get("/api/v1/me").status_code == 401


def test_access_token_works_wherever_a_key_does(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "dial")
    channel, _ = _channel_with_package(server, owner, pkgdir)
    access = oauth.code_flow(server, owner)["access_token"]
    with (
        httpx.Client(base_url=server.url) as http,
        httpx.Client(base_url=server.url, headers=accounts.bearer(access)) as b,
    ):
        assert http.get(f"/t/{access}/{channel}/noarch/repodata.json").status_code == 200
        assert http.get(f"/{channel}/noarch/sec-app-1.0-0.conda", headers={"X-API-Key": access}).status_code == 200
        assert (
            http.get(f"/{channel}/noarch/repodata.json", headers={"Authorization": f"token {access}"}).status_code
            == 200
        )
        uploads = [
            upload_raw(b, channel, _pkg(pkgdir, "p1")),
            quetz_upload(http, channel, _pkg(pkgdir, "p2"), access),
            artifactory_put(http, channel, "noarch", _pkg(pkgdir, "p3"), accounts.bearer(access)),
        ]
    for response in uploads:
        assert response.status_code in (200, 201), response.text


def _pkg(pkgdir: Path, name: str) -> Path:
    return packages.build(Spec(f"sec-{name}", "1.0", "0"), pkgdir)


def test_read_only_scope_reads_but_cannot_upload(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "ro")
    channel, _ = _channel_with_package(server, owner, pkgdir)
    tokens = oauth.code_flow(server, owner, scope="openid offline_access channel:read")
    assert tokens["scope"] == "openid offline_access channel:read"
    assert _reads(server, tokens["access_token"], channel) == 200
    with httpx.Client(base_url=server.url, headers=accounts.bearer(tokens["access_token"])) as http:
        response = upload_raw(http, channel, _pkg(pkgdir, "ro"))
    assert response.status_code == 403, response.text
    refreshed = oauth.token(
        server, grant_type="refresh_token", refresh_token=tokens["refresh_token"], scope="openid channel:upload"
    )
    _refused(refreshed, "invalid_scope")
