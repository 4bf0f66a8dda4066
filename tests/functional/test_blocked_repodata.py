"""repodata.json.zst is one zstd frame spliced from pieces compressed alone (one per block and
section, taipan.conda.zstd_pieces): every reader that conda, mamba and pixi use takes it,
and it says what repodata.json says.

The session's server keeps blocks of ~2 records (tests/conftest.py), so the channel here
has many pieces, and the changes below split, merge and rewrite them."""

from __future__ import annotations

import bz2
import io
import subprocess
from pathlib import Path

import backports.zstd
import orjson
import pytest
import zstandard

from tests.support import packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw

NAMES = [f"blk{i:02d}" for i in range(8)]


def one_frame(data: bytes) -> bytes:
    """The strict way: the content size the frame declares, and nothing after the first frame
    (rattler's decoder stops there)."""
    size = zstandard.frame_content_size(data)
    reader = zstandard.ZstdDecompressor().decompressobj()
    out = reader.decompress(data)
    assert reader.unused_data == b""
    assert size == len(out)
    return out


def conda_stream_writer(data: bytes) -> bytes:
    """conda ≤ 26.6: response chunks of 16 KiB written into ``ZstdDecompressor().stream_writer``."""
    sink = io.BytesIO()
    with zstandard.ZstdDecompressor().stream_writer(sink, closefd=False) as writer:
        for i in range(0, len(data), 1 << 14):
            writer.write(data[i : i + (1 << 14)])
    return sink.getvalue()


def conda_zstdfile(data: bytes) -> bytes:
    """conda ≥ 26.7: ``ZstdFile(response.raw)`` from compression.zstd or its backport."""
    with backports.zstd.ZstdFile(io.BytesIO(data), "rb") as zf:
        return zf.read()


def zstd_cli(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=True).stdout


READERS = {
    "one-frame": one_frame,
    "conda-stream-writer": conda_stream_writer,
    "conda-zstdfile": conda_zstdfile,
    "zstd -d": zstd_cli,
}


@pytest.fixture
def many(server: Server, channel: str, pkgdir: Path) -> list[Path]:
    """Sixteen files in both formats, so that both sections span several blocks."""
    paths = []
    with server.client() as http:
        for i, name in enumerate(NAMES):
            for version in ("1.0", "2.0"):
                fmt = ".tar.bz2" if i % 3 == 0 else ".conda"
                path = packages.build(Spec(name, version, fmt=fmt, depends=[] if i == 0 else ["blk00"]), pkgdir)
                assert upload_raw(http, channel, path).status_code == 200
                paths.append(path)
    return paths


def fetch(server: Server, channel: str) -> tuple[bytes, bytes]:
    with server.client() as http:
        zst = http.get(f"/{channel}/noarch/repodata.json.zst")
        plain = http.get(f"/{channel}/noarch/repodata.json")
        assert zst.status_code == plain.status_code == 200
        return zst.content, plain.content


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_takes_the_spliced_frame(server: Server, channel: str, many: list[Path], reader: str) -> None:
    zst, plain = fetch(server, channel)
    assert READERS[reader](zst) == plain
    assert plain.count(b" " * 17) > 8  # a piece for each block of each section
    body = orjson.loads(plain)
    assert sorted(body["packages"]) + sorted(body["packages.conda"]) == sorted(
        [p.name for p in many if p.name.endswith(".tar.bz2")]
    ) + sorted([p.name for p in many if p.name.endswith(".conda")])


def test_changes_keep_every_reader_in_step(server: Server, channel: str, many: list[Path], pkgdir: Path) -> None:
    fetch(server, channel)  # built once: what follows patches blocks
    with server.client() as http:
        assert http.delete(f"/api/v1/delete/{channel}/noarch/{many[3].name}").status_code == 200
        forced = packages.build(Spec("blk01", "1.0", files={"other": b"bytes"}, depends=["blk00"]), pkgdir / "v2")
        assert upload_raw(http, channel, forced, force=True).status_code == 200
        new = packages.build(Spec("blk99", "0.1"), pkgdir)
        assert upload_raw(http, channel, new).status_code == 200
    zst, plain = fetch(server, channel)
    for read in READERS.values():
        assert read(zst) == plain
    body = orjson.loads(plain)
    names = set(body["packages"]) | set(body["packages.conda"])
    assert many[3].name not in names
    assert new.name in names
    assert body["packages.conda"][forced.name]["sha256"] == packages.sha256_of(forced)


@pytest.mark.parametrize(
    ("zstd", "sharded"), [(True, False), (False, False), (False, True)], ids=["zst", "json", "shards"]
)
def test_rattler_solves_and_installs_from_blocks(
    server: Server, channel: str, many: list[Path], tmp_path: Path, zstd: bool, sharded: bool
) -> None:
    result = rattler_client.solve(
        [f"{server.url}/{channel}"],
        ["blk07 ==2.0", "blk03"],
        tmp_path / "cache",
        prefix=tmp_path / "env",
        sharded=sharded,
        zstd=zstd,
        bz2=False,
    )
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["blk00", "blk03", "blk07"]
    assert len(result["installed"]) == 3


def test_a_large_repodata_json_is_streamed_whole(server: Server, channel: str, many: list[Path]) -> None:
    """Over the server's index_hold_plain_bytes (4 KB in the tests), repodata.json is decompressed
    from the .zst as it is sent, on the fast path and on the general one (a query string)."""
    zst, plain = fetch(server, channel)
    assert len(plain) > 4096
    with server.client() as http:
        for url in (f"/{channel}/noarch/repodata.json", f"/{channel}/noarch/repodata.json?general=1"):
            got = http.get(url)
            assert got.status_code == 200
            assert got.content == plain == one_frame(zst)
            assert int(got.headers["content-length"]) == len(plain)
            assert "transfer-encoding" not in got.headers
            head = http.head(url)
            assert head.status_code == 200
            assert int(head.headers["content-length"]) == len(plain)
            assert http.get(url, headers={"If-None-Match": got.headers["etag"]}).status_code == 304
        bz2_body = http.get(f"/{channel}/noarch/repodata.json.bz2").content
        assert bz2.decompress(bz2_body) == plain
