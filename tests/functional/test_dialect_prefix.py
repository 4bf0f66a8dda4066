"""The prefix.dev dialect, finished: rattler_upload's streamed multipart, the same file twice,
delete, reindex, and namespaced (several-segment) channels."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgpack
import pytest
import sqlalchemy as sa
import zstandard

from tests.support import accounts, packages, rattler_client
from tests.support.accounts import bearer
from tests.support.dialects import prefix_multipart_chunked
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_multipart, upload_raw

ATTESTATION = json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"})


def test_streamed_multipart_with_attestation_then_install(
    server: Server, channel: str, pkgdir: Path, tmp_path: Path
) -> None:
    lib = packages.build(Spec("pfx-lib", subdir="linux-64", fmt=".tar.bz2"), pkgdir)
    app = packages.build(Spec("pfx-app", depends=["pfx-lib"]), pkgdir)
    with server.client(token=None) as http:
        for path in (lib, app):
            response = prefix_multipart_chunked(http, channel, path, server.token, attestation=ATTESTATION)
            assert response.status_code == 200, response.text  # exactly 200: old pixi fails on 201
    result = rattler_client.solve([f"{server.url}/{channel}"], ["pfx-app"], tmp_path / "c", prefix=tmp_path / "env")
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["pfx-app", "pfx-lib"]


@pytest.mark.parametrize("send", [upload_multipart, upload_raw], ids=["multipart", "raw"])
def test_same_file_twice_is_409_until_forced(server: Server, channel: str, pkgdir: Path, send) -> None:  # type: ignore[no-untyped-def]
    path = packages.build(Spec("twice"), pkgdir)
    with server.client() as http:
        assert send(http, channel, path).status_code == 200
        again = send(http, channel, path)
        assert again.status_code == 409, again.text  # what --skip-existing and pixi publish skip on
        forced = send(http, channel, path, force=True)
        assert forced.status_code == 200, forced.text
        assert forced.json()["replaced"] is True


def test_delete_answers_200_then_404(server: Server, channel: str, pkgdir: Path) -> None:
    path = packages.build(Spec("gone", subdir="linux-64"), pkgdir)
    with server.client() as http:
        assert upload_raw(http, channel, path).status_code == 200
        url = f"/api/v1/delete/{channel}/linux-64/{path.name}"
        assert http.delete(url).status_code == 200
        assert http.delete(url).status_code == 404
        assert http.get(f"/{channel}/linux-64/{path.name}").status_code == 404


def _repodata(http: httpx.Client, channel: str, subdir: str) -> dict[str, object]:
    response = http.get(f"/{channel}/{subdir}/repodata.json")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


LOSE_POINTERS = (
    "DELETE FROM shard_pointers WHERE subdir_id IN "
    "(SELECT s.id FROM subdirs s JOIN channels c ON c.id = s.channel_id WHERE c.name = :c AND s.name = :s)"
)
BUMP_REVISION = (
    "UPDATE subdirs SET revision = revision + 1 WHERE id IN "
    "(SELECT s.id FROM subdirs s JOIN channels c ON c.id = s.channel_id WHERE c.name = :c AND s.name = :s)"
)


def _lose_shard_pointers(server: Server, channel: str, subdir: str) -> None:
    """Damage the index behind the server's back (and move the revision, as any change would)."""
    engine = sa.create_engine(server.database_url)
    with engine.begin() as conn:
        for statement in (LOSE_POINTERS, BUMP_REVISION):
            conn.execute(sa.text(statement), {"c": channel, "s": subdir})
    engine.dispose()


def _shard_names(http: httpx.Client, channel: str, subdir: str) -> set[str]:
    response = http.get(f"/{channel}/{subdir}/repodata_shards.msgpack.zst")
    assert response.status_code == 200, response.text
    index = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(response.content))
    return set(index["shards"])


def test_reindex_rebuilds_shards_from_rows(server: Server, channel: str, pkgdir: Path, tmp_path: Path) -> None:
    with server.client() as http:
        for spec in (Spec("rx-lib", subdir="linux-64"), Spec("rx-app", subdir="linux-64", depends=["rx-lib"])):
            assert upload_raw(http, channel, packages.build(spec, pkgdir)).status_code == 200
        before = _repodata(http, channel, "linux-64")
        _lose_shard_pointers(server, channel, "linux-64")
        assert _shard_names(http, channel, "linux-64") == set()
        response = http.post(f"/api/v1/reindex/{channel}/linux-64")
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["channel"], summary["subdir"], summary["files"], summary["names"]) == (
            channel,
            "linux-64",
            2,
            2,
        )
        assert _repodata(http, channel, "linux-64") == before
        assert _shard_names(http, channel, "linux-64") == {"rx-app", "rx-lib"}
    result = rattler_client.solve([f"{server.url}/{channel}"], ["rx-app"], tmp_path / "c", sharded=True)
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["rx-app", "rx-lib"]


def test_reindex_needs_a_contributor(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "own")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=False)
    viewer = accounts.new_user(server, "view")
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    viewer_key = accounts.new_key(server, viewer)
    with httpx.Client(base_url=server.url) as http:
        url = f"/api/v1/reindex/{channel}/noarch"
        assert http.post(url).status_code == 401
        assert http.post(url, headers=bearer(viewer_key)).status_code == 403
        assert http.post(url, headers=bearer(owner_key)).status_code == 200
        assert http.post(f"/api/v1/reindex/{channel}/osx-arm64", headers=bearer(owner_key)).status_code == 404


@pytest.mark.parametrize("anonymous", [False, True])
def test_namespaced_channel_says_what_to_do(server: Server, channel: str, pkgdir: Path, anonymous: bool) -> None:
    """rattler-build sends `--channel ns/chan` as two path segments: a clear 404, never a 500."""
    path = packages.build(Spec("nsed"), pkgdir)
    with server.client(token=None if anonymous else "admin") as http:
        for response in (
            upload_multipart(http, f"ns/{channel}", path),
            upload_raw(http, f"ns/{channel}", path),
            http.delete(f"/api/v1/delete/ns/{channel}/noarch/{path.name}"),
            http.post(f"/api/v1/reindex/ns/{channel}/noarch"),
        ):
            assert response.status_code == 404, response.text
            message = response.json()["error"]
            assert f"'ns/{channel}'" in message
            assert f"--channel {channel}" in message
        assert http.get(f"/{channel}/noarch/{path.name}").status_code == 404  # nothing was stored
