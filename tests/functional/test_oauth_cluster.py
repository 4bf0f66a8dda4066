"""Several server processes on one database share the OAuth signing keys: a token made by
one is good at another, across a key rotation; keys stored encrypted need the secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt

from tests.support import accounts, oauth
from tests.support.server import database_url, running_server

SECRET = "correct battery staple for keys"


def _me(url: str, access_token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/me", headers=accounts.bearer(access_token), timeout=60)


def test_processes_share_keys_across_rotation(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    with (
        database_url(data_dir.parent) as db_url,
        running_server(data_dir, db_url, {"TAIPAN_OAUTH_KEY_SECRET": SECRET}) as one,
        # Behind one load balancer, every process has the same public URL: the issuer.
        running_server(data_dir, db_url, {"TAIPAN_OAUTH_KEY_SECRET": SECRET, "TAIPAN_PUBLIC_URL": one.url}) as two,
    ):
        user = accounts.new_user(one, "mp")
        tokens = oauth.code_flow(one, user)
        assert _me(two.url, tokens["access_token"]).status_code == 200
        refreshed = httpx.post(
            f"{two.url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "rattler"},
        ).json()
        assert _me(one.url, refreshed["access_token"]).status_code == 200

        rotated = httpx.post(f"{two.url}/api/v1/oauth/keys/rotate", headers=accounts.bearer(two.token)).json()
        after = httpx.post(
            f"{two.url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": "rattler"},
        ).json()
        assert jwt.get_unverified_header(after["access_token"])["kid"] == rotated["kid"]
        for url in (one.url, two.url):  # the new key is known everywhere, the old one still verifies
            assert _me(url, after["access_token"]).status_code == 200
            assert _me(url, tokens["access_token"]).status_code == 200

        # A process without the secret cannot sign with the encrypted keys, and says why.
        with running_server(data_dir, db_url, {"TAIPAN_PUBLIC_URL": one.url}) as keyless:
            response = httpx.get(f"{keyless.url}/oauth/jwks")
            assert response.status_code == 503
            assert "oauth_key_secret" in response.json()["error"]
