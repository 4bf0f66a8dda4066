"""The Artifactory dialect: ``rattler-build upload artifactory`` PUTs the raw package (chunked) to
``/{channel}/{subdir}/{file}`` with Basic or Bearer; py-rattler then installs it. The same path
keeps serving GET and HEAD."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import accounts, packages, rattler_client
from tests.support.accounts import PASSWORD, basic, bearer
from tests.support.dialects import artifactory_put
from tests.support.packages import Spec
from tests.support.server import Server


@pytest.fixture
def uploader(server: Server) -> tuple[str, str, str]:
    """(user name, API key, public channel they own)."""
    name = accounts.new_user(server, "art")
    key = accounts.new_key(server, name)
    return name, key, accounts.new_channel(server, key, private=False)


def test_put_with_basic_and_bearer_then_install(
    server: Server, uploader: tuple[str, str, str], pkgdir: Path, tmp_path: Path
) -> None:
    name, key, channel = uploader
    lib = packages.build(Spec("af-lib", subdir="linux-64", fmt=".tar.bz2"), pkgdir)
    tool = packages.build(Spec("af-tool", subdir="linux-64", depends=["af-lib"]), pkgdir)
    app = packages.build(Spec("af-app", depends=["af-tool"]), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        for path, subdir, auth in (
            (lib, "linux-64", basic(name, PASSWORD)),  # --username/--password
            (tool, "linux-64", basic(name, key)),  # a key as the password
            (app, "noarch", bearer(key)),  # --token
        ):
            response = artifactory_put(http, channel, subdir, path, auth)
            assert response.status_code == 201, response.text
            assert response.json()["subdir"] == subdir
    result = rattler_client.solve([f"{server.url}/{channel}"], ["af-app"], tmp_path / "c", prefix=tmp_path / "env")
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["af-app", "af-lib", "af-tool"]


def test_same_bytes_again_is_201_other_bytes_409(
    server: Server, uploader: tuple[str, str, str], pkgdir: Path, tmp_path: Path
) -> None:
    _, key, channel = uploader
    path = packages.build(Spec("af-again"), pkgdir)
    other = packages.build(Spec("af-again", files={"share/other.txt": b"other\n"}), tmp_path / "other")
    assert other.read_bytes() != path.read_bytes()
    with httpx.Client(base_url=server.url) as http:
        assert artifactory_put(http, channel, "noarch", path, bearer(key)).status_code == 201
        again = artifactory_put(http, channel, "noarch", path, bearer(key))
        assert again.status_code == 201, again.text  # a re-run publish job succeeds
        assert again.json()["unchanged"] is True
        clash = artifactory_put(http, channel, "noarch", other, bearer(key))
        assert clash.status_code == 409, clash.text
        assert http.get(f"/{channel}/noarch/{path.name}").content == path.read_bytes()


def test_subdir_must_be_the_packages_own(server: Server, uploader: tuple[str, str, str], pkgdir: Path) -> None:
    _, key, channel = uploader
    path = packages.build(Spec("af-where", subdir="linux-64"), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        response = artifactory_put(http, channel, "osx-64", path, bearer(key))
        assert response.status_code == 422, response.text
        assert "linux-64" in response.json()["error"]
        assert http.get(f"/{channel}/osx-64/{path.name}").status_code == 404
        assert http.get(f"/{channel}/linux-64/{path.name}").status_code == 404


def test_credentials(server: Server, uploader: tuple[str, str, str], pkgdir: Path) -> None:
    owner, owner_key, channel = uploader
    viewer = accounts.new_user(server, "view")
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    path = packages.build(Spec("af-auth"), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        assert artifactory_put(http, channel, "noarch", path, {}).status_code == 401
        assert artifactory_put(http, channel, "noarch", path, basic(owner, "wrong password")).status_code == 401
        viewer_key = accounts.new_key(server, viewer)
        assert artifactory_put(http, channel, "noarch", path, bearer(viewer_key)).status_code == 403


def test_get_and_head_still_fetch_other_methods_405(
    server: Server, uploader: tuple[str, str, str], pkgdir: Path
) -> None:
    _, key, channel = uploader
    path = packages.build(Spec("af-read"), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        assert artifactory_put(http, channel, "noarch", path, bearer(key)).status_code == 201
        url = f"/{channel}/noarch/{path.name}"
        assert http.get(url).content == path.read_bytes()
        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(path.stat().st_size)
        assert http.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"][path.name]
        for method in ("POST", "PATCH", "DELETE"):
            assert http.request(method, url, headers=bearer(key)).status_code == 405, method
