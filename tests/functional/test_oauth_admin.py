"""OAuth sessions beside API keys (web page, API, `taipan token`), signing key rotation,
and clients administrators register."""

from __future__ import annotations

import base64
import json
import subprocess

import httpx
import jwt

from tests.support import accounts, cli, oauth
from tests.support.server import Server
from tests.support.ui import csrf_of, sign_in, text_of


def _cli(server: Server, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**server.env(), "TAIPAN_SERVER": server.url, "TAIPAN_TOKEN": token}
    return cli.taipan(*args, env=env)


def _me(server: Server, access_token: str) -> int:
    with httpx.Client(base_url=server.url, headers=accounts.bearer(access_token)) as http:
        return http.get("/api/v1/me").status_code


def test_sessions_listed_and_revoked_on_the_web_page(server: Server) -> None:
    user = accounts.new_user(server, "sess")
    tokens = oauth.code_flow(server, user)
    with sign_in(server, user) as http:
        keys_page = http.get("/settings/keys")
        assert "/settings/oauth" in keys_page.text
        page = http.get("/settings/oauth")
        assert page.status_code == 200
        assert "rattler (pixi, rattler-build)" in text_of(page)
        listed = http.get("/api/v1/oauth/sessions").json()
        assert len(listed) == 1
        forged = http.post(f"/settings/oauth/{listed[0]['id']}/revoke")
        assert forged.status_code == 403
        assert _me(server, tokens["access_token"]) == 200
        revoked = http.post(f"/settings/oauth/{listed[0]['id']}/revoke", data={"csrf_token": csrf_of(page)})
        assert revoked.status_code == 303
        assert http.get("/api/v1/oauth/sessions").json() == []
        assert http.get("/api/v1/oauth/sessions?all=true").json()[0]["revoked_ms"] is not None
    assert _me(server, tokens["access_token"]) == 401


def test_sessions_in_taipan_token_list_and_revoke(server: Server) -> None:
    user = accounts.new_user(server, "clis")
    key = accounts.new_key(server, user)
    tokens = oauth.device_flow(server, user)
    listed = _cli(server, "token", "list", token=key)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("oauth:"))
    assert "rattler (pixi, rattler-build)" in line
    assert "read-write" in line
    # Someone else's session is not theirs to revoke.
    other = accounts.new_key(server, accounts.new_user(server, "other"))
    refused = _cli(server, "token", "revoke-session", line.split("\t")[0], token=other)
    assert refused.returncode != 0
    assert "does not exist" in refused.stderr
    done = _cli(server, "token", "revoke-session", line.split("\t")[0], token=key)
    assert done.returncode == 0, done.stderr
    assert _me(server, tokens["access_token"]) == 401
    assert "oauth:" not in _cli(server, "token", "list", token=key).stdout


def test_key_rotation_signs_nobody_out(server: Server) -> None:
    user = accounts.new_user(server, "rot")
    before = oauth.code_flow(server, user)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    rotated = _cli(server, "oauth", "rotate-keys", token=server.token)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split()[-1]
    assert new_kid != old_kid
    with httpx.Client(base_url=server.url) as http:
        published = {k["kid"] for k in http.get("/oauth/jwks").json()["keys"]}
    assert {old_kid, new_kid} <= published
    assert _me(server, before["access_token"]) == 200  # the old key still verifies its tokens
    after = oauth.token(server, grant_type="refresh_token", refresh_token=before["refresh_token"]).json()
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
    assert _me(server, after["access_token"]) == 200
    # Only administrators rotate.
    with httpx.Client(base_url=server.url, headers=accounts.bearer(accounts.new_key(server, user))) as http:
        assert http.post("/api/v1/oauth/keys/rotate").status_code == 403


def test_admin_registers_a_confidential_client(server: Server) -> None:
    added = _cli(
        server,
        "oauth",
        "add-client",
        "portal-test",
        "--name",
        "Portal",
        "--redirect-uri",
        "https://portal.example/cb",
        "--confidential",
        token=server.token,
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.splitlines()[-1]
    assert (
        "portal-test\tPortal\tconfidential\thttps://portal.example/cb"
        in _cli(server, "oauth", "clients", token=server.token).stdout
    )
    user = accounts.new_user(server, "port")
    verifier, challenge = oauth.pkce()
    params = {**oauth.authorize_params("https://portal.example/cb", challenge), "client_id": "portal-test"}
    with sign_in(server, user) as http:
        # Its redirect URI is exact: no loopback, no other path.
        wrong = http.get("/oauth/authorize", params={**params, "redirect_uri": "http://127.0.0.1:5000/"})
        assert wrong.status_code == 400
    code = oauth.browser_code(server, user, params)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://portal.example/cb",
        "code_verifier": verifier,
        "client_id": "portal-test",
    }
    with oauth.cli(server) as http:
        no_secret = http.post("/oauth/token", data=form)
        assert no_secret.status_code == 401
        assert no_secret.json()["error"] == "invalid_client"
        basic = base64.b64encode(f"portal-test:{secret}".encode()).decode()
        ok = http.post("/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
        assert ok.status_code == 200, ok.text
    tokens = ok.json()
    assert _me(server, tokens["access_token"]) == 200
    # Unregistering the client ends its sign-ins.
    removed = _cli(server, "oauth", "remove-client", "portal-test", token=server.token)
    assert removed.returncode == 0, removed.stderr
    assert _me(server, tokens["access_token"]) == 401
    assert (
        json.loads(httpx.get(f"{server.url}/api/v1/oauth/clients", headers=accounts.bearer(server.token)).text)[0][
            "client_id"
        ]
        == "rattler"
    )
    refused = _cli(server, "oauth", "remove-client", "rattler", token=server.token)
    assert refused.returncode != 0
    assert "built in" in refused.stderr
