"""py-rattler (inside pixi and rattler-build) fetches, solves and installs from Taipan."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_multipart, upload_raw


def _publish(server: Server, channel: str, pkgdir: Path) -> None:
    specs = [
        Spec(
            "libfoo", "1.2.0", "h1234567_0", subdir="linux-64", fmt=".tar.bz2", run_exports={"weak": ["libfoo >=1.2"]}
        ),
        Spec("foo-tools", "2.0", "h7654321_1", build_number=1, subdir="linux-64", depends=["libfoo >=1.2"]),
        Spec("foo-data", "0.5", "pyhd8ed1ab_0", depends=["foo-tools 2.*"], fmt=".tar.bz2"),
        Spec("foo-app", "3.1", "0", depends=["foo-data", "libfoo"]),
    ]
    with server.client() as http:
        for i, spec in enumerate(specs):
            path = packages.build(spec, pkgdir)
            send = upload_multipart if i % 2 else upload_raw
            response = send(http, channel, path)
            assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("sharded", "zstd", "bz2"),
    [(True, True, True), (False, True, False), (False, False, True), (False, False, False)],
    ids=["shards", "zst", "bz2", "plain"],
)
def test_solve_and_install(
    server: Server, channel: str, pkgdir: Path, tmp_path: Path, sharded: bool, zstd: bool, bz2: bool
) -> None:
    _publish(server, channel, pkgdir)
    result = rattler_client.solve(
        [f"{server.url}/{channel}"],
        ["foo-app"],
        tmp_path / "cache",
        prefix=tmp_path / "env",
        sharded=sharded,
        zstd=zstd,
        bz2=bz2,
    )
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["foo-app", "foo-data", "foo-tools", "libfoo"]
    assert len(result["installed"]) == 4
    assert (tmp_path / "env" / "share" / "foo-app" / "foo-app.txt").read_text() == "foo-app 3.1\n"


def test_deleted_package_is_gone_from_next_solve(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    _publish(server, channel, pkgdir)
    with server.client() as http:
        response = http.delete(f"/api/v1/delete/{channel}/noarch/foo-data-0.5-pyhd8ed1ab_0.tar.bz2")
        assert response.status_code == 200, response.text
    for sharded in (True, False):
        result = rattler_client.solve(
            [f"{server.url}/{channel}"], ["foo-app"], tmp_path / f"c{sharded}", sharded=sharded
        )
        assert not result["ok"]
        assert "foo-data" in result["error"]
        result = rattler_client.solve(
            [f"{server.url}/{channel}"], ["foo-tools"], tmp_path / f"d{sharded}", sharded=sharded
        )
        assert result["ok"], result
