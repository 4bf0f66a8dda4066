"""The Quetz dialect: ``rattler-build upload quetz`` (raw, chunked, X-API-Key, ?sha256) and Quetz's
multipart ``/files/`` form, then py-rattler installs what was uploaded."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support import accounts, packages, rattler_client
from tests.support.accounts import bearer
from tests.support.dialects import quetz_upload
from tests.support.packages import Spec
from tests.support.server import Server


def test_rattler_quetz_upload_then_install(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    lib = packages.build(Spec("qz-lib", subdir="linux-64", fmt=".tar.bz2"), pkgdir)
    app = packages.build(Spec("qz-app", depends=["qz-lib"]), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        for path in (lib, app):
            response = quetz_upload(http, channel, path, server.token)
            assert response.status_code == 201, response.text
            assert response.json()["filename"] == path.name
        # rattler has no --skip-existing for quetz: the same file again is Quetz's 409.
        again = quetz_upload(http, channel, app, server.token)
        assert again.status_code == 409, again.text
        forced = quetz_upload(http, channel, app, server.token, force=True)
        assert forced.status_code == 201, forced.text
        assert forced.json()["replaced"] is True
    result = rattler_client.solve([f"{server.url}/{channel}"], ["qz-app"], tmp_path / "c", prefix=tmp_path / "env")
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["qz-app", "qz-lib"]


def test_checksum_mismatch_is_406_and_stores_nothing(server: Server, channel: str, pkgdir: Path) -> None:
    path = packages.build(Spec("qz-sum"), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        response = quetz_upload(http, channel, path, server.token, sha256="0" * 64)
        assert response.status_code == 406, response.text
        assert "SHA-256" in response.json()["error"]
        assert http.get(f"/{channel}/noarch/{path.name}").status_code == 404


def test_refused_package_is_400(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    """Quetz answers 400 when the file name and index.json disagree (Taipan's default is 422)."""
    built = packages.build(Spec("qz-real"), pkgdir)
    renamed = tmp_path / "qz-other-1.0-0.conda"
    renamed.write_bytes(built.read_bytes())
    with httpx.Client(base_url=server.url) as http:
        response = quetz_upload(http, channel, renamed, server.token)
        assert response.status_code == 400, response.text


def test_credentials(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "own")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=False)
    viewer = accounts.new_user(server, "view")
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    path = packages.build(Spec("qz-auth"), pkgdir)
    with httpx.Client(base_url=server.url) as http:
        assert quetz_upload(http, channel, path, None).status_code == 401
        assert quetz_upload(http, channel, path, "taipan-" + "x" * 40).status_code == 401
        assert quetz_upload(http, channel, path, accounts.new_key(server, viewer)).status_code == 403
        assert quetz_upload(http, channel, path, owner_key).status_code == 201


def _form(paths: list[Path], force: str | None = None) -> dict[str, object]:
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    return {"files": files, "data": {"force": force} if force is not None else None}


def test_multipart_files_one_and_many_then_install(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    one = packages.build(Spec("qf-lib", subdir="linux-64"), pkgdir)
    many = [packages.build(Spec("qf-app", depends=["qf-lib", "qf-data"]), pkgdir)]
    many.append(packages.build(Spec("qf-data", fmt=".tar.bz2"), pkgdir))
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.token}) as http:
        url = f"/api/channels/{channel}/files/"
        response = http.post(url, **_form([one]))  # type: ignore[arg-type]
        assert response.status_code == 201, response.text
        response = http.post(url, **_form(many, force="false"))  # type: ignore[arg-type]
        assert response.status_code == 201, response.text
        assert [f["filename"] for f in response.json()["files"]] == [p.name for p in many]
        assert http.post(url, **_form([one])).status_code == 409  # type: ignore[arg-type]
        forced = http.post(url, **_form([one], force="true"))  # type: ignore[arg-type]
        assert forced.status_code == 201, forced.text
        assert forced.json()["files"][0]["replaced"] is True
    result = rattler_client.solve([f"{server.url}/{channel}"], ["qf-app"], tmp_path / "c", prefix=tmp_path / "env")
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["qf-app", "qf-data", "qf-lib"]


def test_multipart_stops_at_the_first_refused_file(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    good = packages.build(Spec("qf-good"), pkgdir)
    bad = tmp_path / "qf-bad-1.0-0.conda"
    bad.write_bytes(b"not a package")
    after = packages.build(Spec("qf-after"), pkgdir)
    with httpx.Client(base_url=server.url, headers=bearer(server.token)) as http:
        response = http.post(f"/api/channels/{channel}/files/", **_form([good, bad, after]))  # type: ignore[arg-type]
        assert response.status_code == 400, response.text
        assert http.get(f"/{channel}/noarch/{good.name}").status_code == 200  # as in Quetz: the ones before stay
        assert http.get(f"/{channel}/noarch/{after.name}").status_code == 404
        assert not list(server.storage().list(".staging/"))


def test_multipart_without_files_is_400(server: Server, channel: str) -> None:
    with httpx.Client(base_url=server.url, headers=bearer(server.token)) as http:
        response = http.post(f"/api/channels/{channel}/files/", data={"force": "true"}, files={"x": ("", b"")})
        assert response.status_code == 400, response.text
