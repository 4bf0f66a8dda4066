"""Concurrent uploads into one subdir all land, in repodata.json and in the shards."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack
import zstandard

from tests.support import packages
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_multipart, upload_raw


def _shard_files(http, channel: str, subdir: str) -> set[str]:  # type: ignore[no-untyped-def]
    index = msgpack.unpackb(zstandard.decompress(http.get(f"/{channel}/{subdir}/repodata_shards.msgpack.zst").content))
    files: set[str] = set()
    for digest in index["shards"].values():
        raw = http.get(f"/{channel}/{subdir}/shards/{digest.hex()}.msgpack.zst").content
        shard = msgpack.unpackb(zstandard.decompress(raw))
        files |= set(shard["packages"]) | set(shard["packages.conda"])
    return files


def test_twenty_concurrent_uploads_all_land(server: Server, channel: str, pkgdir: Path) -> None:
    # Ten names, two builds each: concurrent writers also race on the same shard.
    specs = [
        Spec(f"conc{i % 10}", f"1.{i}", "0", subdir="linux-64", fmt=".conda" if i % 3 else ".tar.bz2")
        for i in range(20)
    ]
    paths = [packages.build(s, pkgdir) for s in specs]

    def send(i: int) -> int:
        with server.client() as http:
            return (upload_multipart if i % 2 else upload_raw)(http, channel, paths[i]).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(send, range(20)))
    assert statuses == [200] * 20
    expected = {s.filename for s in specs}
    with server.client(token=None) as http:
        repodata = http.get(f"/{channel}/linux-64/repodata.json").json()
        assert set(repodata["packages"]) | set(repodata["packages.conda"]) == expected
        assert _shard_files(http, channel, "linux-64") == expected


def test_upload_is_visible_on_the_very_next_fetch(server: Server, channel: str, pkgdir: Path) -> None:
    with server.client() as http:
        for i in range(5):
            spec = Spec("ryw", f"0.{i}", "0")
            # Warm every index file so a stale cache would show.
            for name in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst"):
                http.get(f"/{channel}/noarch/{name}")
            assert upload_raw(http, channel, packages.build(spec, pkgdir)).status_code == 200
            repodata = http.get(f"/{channel}/noarch/repodata.json").json()
            assert spec.filename in repodata["packages.conda"]
            zst = (
                zstandard.ZstdDecompressor()
                .decompressobj()
                .decompress(http.get(f"/{channel}/noarch/repodata.json.zst").content)
            )
            assert spec.filename.encode() in zst
            assert spec.filename in _shard_files(http, channel, "noarch")
