"""Taipan as the OAuth provider of `pixi auth login --oauth`: the real client refreshes and installs.

Both flows run against the running server (httpx as the browser, through the real sign-in
form and consent page); the credential then goes into RATTLER_AUTH_FILE with an access
token marked expired, and py-rattler must refresh it at Taipan's token endpoint by itself
to install from a private channel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support import accounts, oauth, packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw


def _private_channel(server: Server, pkgdir: Path) -> tuple[str, str]:
    """A private channel with one package, and a user who may read it."""
    owner = accounts.new_user(server, "owner")
    channel = accounts.new_channel(server, accounts.new_key(server, owner), private=True)
    reader = accounts.new_user(server, "reader")
    accounts.add_member(server, accounts.new_key(server, owner), channel, reader, "viewer")
    path = packages.build(Spec("oauth-app", "1.0", "0"), pkgdir)
    with httpx.Client(base_url=server.url, headers=accounts.bearer(accounts.new_key(server, owner))) as http:
        response = upload_raw(http, channel, path)
        assert response.status_code == 200, response.text
    return channel, reader


FLOWS: dict[str, Callable[[Server, str], dict[str, Any]]] = {"pkce": oauth.code_flow, "device": oauth.device_flow}


@pytest.mark.parametrize("flow", list(FLOWS))
def test_rattler_refreshes_and_installs(server: Server, pkgdir: Path, tmp_path: Path, flow: str) -> None:
    channel, reader = _private_channel(server, pkgdir)
    tokens = FLOWS[flow](server, reader)
    assert tokens["token_type"] == "Bearer"
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["preferred_username"] == reader
    assert claims["aud"] == "rattler"

    auth_file = tmp_path / "credentials.json"
    oauth.write_auth_file(auth_file, server, tokens, expires_at=int(time.time()) - 60)
    result = rattler_client.solve(
        [f"{server.url}/{channel}"], ["oauth-app"], tmp_path / "cache", prefix=tmp_path / "env", auth_file=auth_file
    )
    assert result["ok"], result
    assert result["installed"] == ["oauth-app-1.0-0.json"]

    # py-rattler refreshed through Taipan and stored what it got: a new pair of tokens.
    stored = oauth.read_auth_file(auth_file, server)
    assert stored["access_token"] != tokens["access_token"]
    assert stored["refresh_token"] != tokens["refresh_token"]
    assert stored["expires_at"] > time.time() + 600
    with httpx.Client(base_url=server.url, headers=accounts.bearer(stored["access_token"])) as http:
        assert http.get(f"/{channel}/noarch/repodata.json").status_code == 200


def test_revoked_grant_makes_rattler_fail_clearly(server: Server, pkgdir: Path, tmp_path: Path) -> None:
    channel, reader = _private_channel(server, pkgdir)
    tokens = oauth.code_flow(server, reader)
    with oauth.cli(server) as http:
        response = http.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": "rattler"},
        )
        assert response.status_code == 200, response.text

    # The refresh is refused, so rattler has no credential left to send: the channel says to sign in.
    auth_file = tmp_path / "credentials.json"
    oauth.write_auth_file(auth_file, server, tokens, expires_at=int(time.time()) - 60)
    result = rattler_client.solve([f"{server.url}/{channel}"], ["oauth-app"], tmp_path / "c1", auth_file=auth_file)
    assert not result["ok"]
    assert "401 Unauthorized" in result["error"], result

    # An access token still within its lifetime is refused too, saying why.
    with httpx.Client(base_url=server.url, headers=accounts.bearer(tokens["access_token"])) as http:
        response = http.get(f"/{channel}/noarch/repodata.json")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]
    oauth.write_auth_file(auth_file, server, tokens, expires_at=int(time.time()) + 3000)
    result = rattler_client.solve([f"{server.url}/{channel}"], ["oauth-app"], tmp_path / "c2", auth_file=auth_file)
    assert not result["ok"]
    assert "401 Unauthorized" in result["error"], result
