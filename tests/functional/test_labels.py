"""Labels: upload with a label, install from its view, promote to main, and the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support import accounts, cli, packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw


def _names(http: httpx.Client, url: str) -> set[str]:
    body = http.get(url).json()
    return set(body["packages"]) | set(body["packages.conda"])


def test_label_views_and_promotion(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    stable = packages.build(Spec("lab-lib", "1.0"), pkgdir)
    beta = packages.build(Spec("lab-lib", "2.0", depends=[]), pkgdir)
    with server.client() as http:
        assert upload_raw(http, channel, stable).status_code == 200
        response = http.post(
            f"/api/v1/upload/{channel}",
            content=beta.read_bytes(),
            params={"label": "dev"},
            headers={"X-File-Name": beta.name, "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text
        assert _names(http, f"/{channel}/noarch/repodata.json") == {stable.name}
        assert _names(http, f"/{channel}/label/dev/noarch/repodata.json") == {beta.name}
        assert _names(http, f"/{channel}/label/main/noarch/repodata.json") == {stable.name}
        assert http.get(f"/{channel}/label/dev/noarch/{beta.name}").content == beta.read_bytes()
        assert http.get(f"/{channel}/noarch/{beta.name}").status_code == 404  # not in main (yet)
        dev_etag = http.get(f"/{channel}/label/dev/noarch/repodata.json").headers["etag"]
        assert dev_etag != http.get(f"/{channel}/noarch/repodata.json").headers["etag"]
    dev = rattler_client.solve([f"{server.url}/{channel}/label/dev"], ["lab-lib"], tmp_path / "c1")
    assert dev["ok"], dev
    assert [r["version"] for r in dev["records"]] == ["2.0"]
    main = rattler_client.solve([f"{server.url}/{channel}"], ["lab-lib"], tmp_path / "c2")
    assert [r["version"] for r in main["records"]] == ["1.0"]
    with server.client() as http:
        promoted = http.post(f"/api/v1/channels/{channel}/labels/dev/promote", json={"to": "main"})
        assert promoted.json() == {"files": 1}
        assert _names(http, f"/{channel}/noarch/repodata.json") == {stable.name, beta.name}
        assert http.get(f"/api/v1/channels/{channel}/files/noarch/{beta.name}/labels").json() == ["dev", "main"]
        labels = {item["label"]: item["files"] for item in http.get(f"/api/v1/channels/{channel}/labels").json()}
        assert labels == {"dev": 1, "main": 2}
        assert http.delete(f"/api/v1/channels/{channel}/files/noarch/{stable.name}/labels/main").status_code == 409
        assert http.put(f"/api/v1/channels/{channel}/files/noarch/{stable.name}/labels/nolabel").status_code == 400
    after = rattler_client.solve([f"{server.url}/{channel}"], ["lab-lib"], tmp_path / "c3", sharded=True)
    assert [r["version"] for r in after["records"]] == ["2.0"]


def test_label_changes_need_a_contributor(server: Server, pkgdir: Path) -> None:
    owner, viewer = accounts.new_user(server, "own"), accounts.new_user(server, "view")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=False)
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    path = packages.build(Spec("guarded"), pkgdir)
    with httpx.Client(base_url=server.url, headers=accounts.bearer(owner_key)) as http:
        assert upload_raw(http, channel, path).status_code == 200
    with httpx.Client(base_url=server.url, headers=accounts.bearer(accounts.new_key(server, viewer))) as http:
        assert http.get(f"/api/v1/channels/{channel}/labels").status_code == 200
        assert http.put(f"/api/v1/channels/{channel}/files/noarch/{path.name}/labels/dev").status_code == 403
        assert http.post(f"/api/v1/channels/{channel}/labels/main/promote", json={"to": "x"}).status_code == 403


def test_cli_upload_with_label_and_promote(server: Server, channel: str, pkgdir: Path) -> None:
    path = packages.build(Spec("cli-lab"), pkgdir)
    env = {**server.env(), "TAIPAN_SERVER": server.url, "TAIPAN_TOKEN": server.token}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli.taipan(*args, env=env)

    uploaded = run("upload", "-c", channel, "--label", "beta", str(path))
    assert uploaded.returncode == 0, uploaded.stderr + uploaded.stdout
    assert "beta\t1" in run("label", "list", channel).stdout
    assert run("label", "add", channel, f"noarch/{path.name}", "rc").returncode == 0
    promoted = run("label", "promote", channel, "rc", "--to", "main")
    assert promoted.returncode == 0, promoted.stderr
    assert "1 file(s)" in promoted.stdout
    with httpx.Client(base_url=server.url) as http:
        assert _names(http, f"/{channel}/noarch/repodata.json") == {path.name}
    assert run("label", "remove", channel, f"noarch/{path.name}", "beta", "rc").returncode == 0
    with httpx.Client(base_url=server.url) as http:
        assert _names(http, f"/{channel}/label/beta/noarch/repodata.json") == set()
