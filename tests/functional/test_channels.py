"""Channels through the JSON API and the CLI."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import cli, packages
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw


def _name() -> str:
    return f"ch-{uuid.uuid4().hex[:8]}"


def test_create_list_show_delete(server: Server, pkgdir: Path) -> None:
    name = _name()
    with server.client() as http:
        created = http.post("/api/v1/channels", json={"name": name, "description": "for tests"})
        assert created.status_code == 201, created.text
        assert created.json()["url"] == f"{server.url}/{name}"
        assert [s["name"] for s in created.json()["subdirs"]] == ["noarch"]
        assert http.post("/api/v1/channels", json={"name": name}).status_code == 409
        assert name in [c["name"] for c in http.get("/api/v1/channels").json()]
        path = packages.build(Spec("chpkg", subdir="linux-64"), pkgdir)
        assert upload_raw(http, name, path).status_code == 200
        shown = http.get(f"/api/v1/channels/{name}").json()
        assert {s["name"]: s["files"] for s in shown["subdirs"]} == {"linux-64": 1, "noarch": 0}
        files = http.get(f"/api/v1/channels/{name}/files").json()
        assert [f["filename"] for f in files] == [path.name]
        assert http.delete(f"/api/v1/channels/{name}").status_code == 400  # no confirmation
        assert http.delete(f"/api/v1/channels/{name}", params={"confirm": name}).status_code == 204
        assert http.get(f"/api/v1/channels/{name}").status_code == 404
        assert http.get(f"/{name}/linux-64/{path.name}").status_code == 404
        assert list(server.storage().list(f"{name}/")) == []
        # The name is free again, and the new channel starts empty with fresh ETags.
        assert http.post("/api/v1/channels", json={"name": name}).status_code == 201
        assert http.get(f"/{name}/linux-64/repodata.json").status_code == 404
        assert http.get(f"/{name}/noarch/repodata.json").json()["packages"] == {}


@pytest.mark.parametrize(
    "bad",
    ["", "UPPER", "-dash", ".dot", "has space", "a/b", "x" * 129, "api", "t", "static", "noarch", "linux-64"],
)
def test_bad_channel_names_are_refused(server: Server, bad: str) -> None:
    with server.client() as http:
        response = http.post("/api/v1/channels", json={"name": bad})
    assert response.status_code in (400, 422), response.text
    assert "error" in response.json()


def test_channel_writes_need_the_admin_token(server: Server, channel: str) -> None:
    with httpx.Client(base_url=server.url) as anon:
        response = anon.post("/api/v1/channels", json={"name": _name()})
        assert response.status_code == 401
        assert "www-authenticate" in response.headers
        assert anon.delete(f"/api/v1/channels/{channel}").status_code == 401
    with server.client(token="taipan-wrong") as bad:
        assert bad.post("/api/v1/channels", json={"name": _name()}).status_code == 401


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.taipan(*args, env={**server.env(), "TAIPAN_SERVER": server.url})


def test_cli_channel_commands(server: Server) -> None:
    name = _name()
    created = _cli(server, "channel", "create", name, "--description", "from the CLI")
    assert created.returncode == 0, created.stderr
    assert f"{server.url}/{name}" in created.stdout
    listed = _cli(server, "channel", "list")
    assert name in listed.stdout
    shown = _cli(server, "channel", "show", name)
    assert "noarch: 0 files" in shown.stdout
    bad = _cli(server, "channel", "create", "Bad Name")
    assert bad.returncode != 0
    assert "not valid" in bad.stderr
    deleted = _cli(server, "channel", "delete", name, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert name not in _cli(server, "channel", "list").stdout


def test_cli_help_teaches() -> None:
    out = subprocess.run([sys.executable, "-m", "taipan", "--help"], capture_output=True, text=True, check=True)
    for word in ("serve", "channel", "admin", "db", "TAIPAN_"):
        assert word in out.stdout
