"""The anaconda.org dialect: the real anaconda-client, and rattler's anaconda target request by request."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, packages, rattler_client
from tests.support.accounts import PASSWORD
from tests.support.anaconda import Anaconda
from tests.support.packages import Spec
from tests.support.server import Server


def _names(server: Server, path: str, token: str | None = None) -> set[str]:
    headers = accounts.bearer(token) if token else {}
    body = httpx.get(f"{server.url}{path}", headers=headers).json()
    return set(body["packages"]) | set(body["packages.conda"])


def test_anaconda_client_login_upload_label_force_promote(server: Server, tmp_path: Path) -> None:
    user = accounts.new_user(server, "ana")
    client = Anaconda(server, tmp_path / "home")
    login = client.run("login", "--username", user, "--password", PASSWORD)
    assert "login successful" in login.stdout + login.stderr
    pkgdir = tmp_path / "pkgs"
    dev = packages.build(Spec("ana-tool", "1.0", subdir="linux-64"), pkgdir)
    lib = packages.build(Spec("ana-lib", "0.1", fmt=".tar.bz2"), pkgdir)
    # No -u: the owner is you, and your channel is made on first use.
    client.run("upload", "-l", "dev", str(dev))
    client.run("upload", str(lib))
    assert _names(server, f"/{user}/label/dev/linux-64/repodata.json") == {dev.name}
    assert _names(server, f"/{user}/noarch/repodata.json") == {lib.name}
    again = client.run("upload", "-l", "dev", str(dev), check=False)
    assert again.returncode != 0  # the file exists: anaconda-client reports the conflict
    client.run("upload", "--force", "-l", "dev", str(dev))
    result = rattler_client.solve([f"{server.url}/{user}/label/dev"], ["ana-tool"], tmp_path / "c1")
    assert result["ok"], result
    with server.client() as http:
        promoted = http.post(f"/api/v1/channels/{user}/labels/dev/promote", json={"to": "main"})
        assert promoted.status_code == 200, promoted.text
    result = rattler_client.solve([f"{server.url}/{user}"], ["ana-tool", "ana-lib"], tmp_path / "c2")
    assert result["ok"], result


def test_anaconda_client_uploads_to_another_owner(server: Server, tmp_path: Path) -> None:
    owner, helper = accounts.new_user(server, "own"), accounts.new_user(server, "help")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    accounts.add_member(server, owner_key, channel, helper, "contributor")
    client = Anaconda(server, tmp_path / "home")
    client.run("login", "--username", helper, "--password", PASSWORD)
    pkg = packages.build(Spec("team-pkg"), tmp_path / "pkgs")
    client.run("upload", "-u", channel, str(pkg))
    assert _names(server, f"/{channel}/noarch/repodata.json", owner_key) == {pkg.name}
    stranger = Anaconda(server, tmp_path / "stranger")
    stranger.run("login", "--username", accounts.new_user(server, "str"), "--password", PASSWORD)
    refused = stranger.run("upload", "-u", channel, str(pkg), check=False)
    assert refused.returncode != 0


@pytest.fixture
def rattler_headers(server: Server) -> dict[str, str]:
    user = accounts.new_user(server, "rat")
    return {
        "Authorization": f"token {accounts.new_key(server, user)}",
        "Accept": "application/json",
        "x-binstar-api-version": "1.12.2",
        "User-Agent": "rattler_upload/0.10.4",
        "X-Test-User": user,
    }


def test_rattler_anaconda_target_sequence(server: Server, rattler_headers: dict[str, str], tmp_path: Path) -> None:
    """client-protocols.md §1.6, step by step, with --force on the second round."""
    owner = rattler_headers.pop("X-Test-User")
    pkg = packages.build(Spec("rat-pkg", "2.0", subdir="linux-64", about={"home": "https://x"}), tmp_path)
    data = pkg.read_bytes()
    index = {"name": "rat-pkg", "version": "2.0", "build": "0", "build_number": 0, "subdir": "linux-64"}
    base = f"{server.url}/api/"
    with httpx.Client(headers=rattler_headers) as http:
        for round_ in ("first", "forced"):
            package = http.get(f"{base}package/{owner}/rat-pkg")
            assert package.status_code in (200, 404)
            method = "PATCH" if package.status_code == 200 else "POST"
            body = {"public": True, "publish": False, "public_attrs": {"package_types": ["conda"], "name": "rat-pkg"}}
            assert http.request(method, f"{base}package/{owner}/rat-pkg", json=body).is_success
            release = http.get(f"{base}release/{owner}/rat-pkg/2.0")
            assert release.status_code in (200, 404)
            method = "PATCH" if release.status_code == 200 else "POST"
            body = {"requirements": [], "announce": False, "description": None}
            assert http.request(method, f"{base}release/{owner}/rat-pkg/2.0", json=body).is_success
            stage_url = f"{base}stage/{owner}/rat-pkg/2.0/linux-64/{pkg.name}"
            stage_body = {
                "distribution_type": "conda",
                "description": None,
                "attrs": index,
                "channels": ["main"],
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            staged = http.post(stage_url, json=stage_body)
            if round_ == "forced":
                assert staged.status_code == 409
                deleted = http.delete(f"{base}dist/{owner}/rat-pkg/2.0/linux-64/{pkg.name}")
                assert deleted.is_success
                staged = http.post(stage_url, json=stage_body)
            assert staged.status_code == 200, staged.text
            answer = staged.json()
            assert set(answer) == {"post_url", "form_data", "dist_id"}
            assert all(isinstance(v, str) for v in answer["form_data"].values())
            # The S3-style POST: a fresh client, no credentials; the file part has no filename.
            fields = [(k, (None, v)) for k, v in answer["form_data"].items()]
            fields += [
                ("Content-Length", (None, str(len(data)))),
                ("Content-MD5", (None, base64.b64encode(hashlib.md5(data).digest()).decode())),  # noqa: S324
                ("file", (None, data)),
            ]
            posted = httpx.post(answer["post_url"], files=fields, headers={"Accept": "application/json"})
            assert posted.status_code == 201, posted.text
            # The ticket is spent: the same form again is refused, and nothing changes.
            assert httpx.post(answer["post_url"], files=fields).status_code == 403
            committed = http.post(
                f"{base}commit/{owner}/rat-pkg/2.0/linux-64/{pkg.name}", json={"dist_id": answer["dist_id"]}
            )
            assert committed.status_code == 200, committed.text
    result = rattler_client.solve([f"{server.url}/{owner}"], ["rat-pkg"], tmp_path / "cache")
    assert result["ok"], result


def test_upload_post_refuses_bad_tickets_and_digests(
    server: Server, rattler_headers: dict[str, str], tmp_path: Path
) -> None:
    owner = rattler_headers.pop("X-Test-User")
    pkg = packages.build(Spec("tick-pkg"), tmp_path)
    data = pkg.read_bytes()
    with httpx.Client(headers=rattler_headers) as http:
        assert http.post(f"{server.url}/api/package/{owner}/tick-pkg", json={}).status_code == 200
        staged = http.post(f"{server.url}/api/stage/{owner}/tick-pkg/1.0/noarch/{pkg.name}", json={"channels": []})
        answer = staged.json()
    forged = httpx.post(answer["post_url"], files=[("ticket", (None, "forged")), ("file", (None, data))])
    assert forged.status_code == 403
    assert b"<Error>" in forged.content
    wrong_md5 = [
        ("ticket", (None, answer["form_data"]["ticket"])),
        ("Content-MD5", (None, base64.b64encode(b"0" * 16).decode())),
        ("file", (None, data)),
    ]
    bad = httpx.post(answer["post_url"], files=wrong_md5)
    assert bad.status_code == 400
    assert b"InvalidDigest" in bad.content
    assert _names(server, f"/{owner}/noarch/repodata.json", None) == set()
    no_ticket = httpx.post(answer["post_url"], files=[("file", (None, data))])
    assert no_ticket.status_code == 400


def test_api_root_and_user(server: Server) -> None:
    assert httpx.head(f"{server.url}/api").status_code == 200
    user = accounts.new_user(server, "who")
    key = accounts.new_key(server, user)
    me = httpx.get(f"{server.url}/api/user", headers={"Authorization": f"token {key}"})
    assert me.json()["login"] == user
    assert httpx.get(f"{server.url}/api/user").status_code == 401
    assert httpx.get(f"{server.url}/api/authentication-type").json() == {"authentication_type": "password"}
    bearer = httpx.post(f"{server.url}/api/authentications", headers={"Authorization": "Bearer x"}, json={})
    assert bearer.status_code == 401
    assert json.loads(bearer.content)["error"] == "Bearer token authentication is not enabled"
