"""What clients fetch: index files and packages with correct HTTP caching, ranges and errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.support import packages
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw

INDEX_FILES = ["repodata.json", "repodata.json.zst", "repodata.json.bz2", "repodata_shards.msgpack.zst"]


@pytest.fixture
def published(server: Server, channel: str, pkgdir: Path) -> Path:
    path = packages.build(Spec("served", "1.0", "0", subdir="linux-64", files={"bin/x": b"x" * 50_000}), pkgdir)
    with server.client() as http:
        assert upload_raw(http, channel, path).status_code == 200
    return path


def test_empty_channel_has_noarch(server: Server, channel: str) -> None:
    with httpx.Client(base_url=server.url) as http:
        body = http.get(f"/{channel}/noarch/repodata.json").json()
        assert body == {
            "info": {"subdir": "noarch"},
            "packages": {},
            "packages.conda": {},
            "removed": [],
            "repodata_version": 1,
        }
        assert http.get(f"/{channel}/linux-64/repodata.json").status_code == 404
        # Anonymous callers can't tell a missing channel from a private one: both ask for credentials.
        assert http.get("/no-such-channel/noarch/repodata.json").status_code == 401
    with server.client() as http:
        assert http.get("/no-such-channel/noarch/repodata.json").status_code == 404


@pytest.mark.parametrize("name", INDEX_FILES)
def test_index_files_revalidate_with_304(server: Server, channel: str, published: Path, name: str) -> None:
    with httpx.Client(base_url=server.url) as http:
        first = http.get(f"/{channel}/linux-64/{name}")
        assert first.status_code == 200
        assert first.headers["etag"].startswith('"')
        assert "max-age" in first.headers["cache-control"]
        assert "content-encoding" not in first.headers
        assert int(first.headers["content-length"]) == len(first.content)
        head = http.head(f"/{channel}/linux-64/{name}")
        assert head.status_code == 200
        assert head.headers["etag"] == first.headers["etag"]
        assert head.headers["content-length"] == first.headers["content-length"]
        again = http.get(f"/{channel}/linux-64/{name}", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        since = http.get(f"/{channel}/linux-64/{name}", headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304
        stale = http.get(f"/{channel}/linux-64/{name}", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        assert stale.content == first.content


def test_record_fields(server: Server, channel: str, published: Path) -> None:
    with httpx.Client(base_url=server.url) as http:
        record = http.get(f"/{channel}/linux-64/repodata.json").json()["packages.conda"][published.name]
    data = published.read_bytes()
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - md5 is what repodata carries
    assert record["size"] == len(data)
    assert record["depends"] == []
    assert record["subdir"] == "linux-64"
    assert isinstance(record["indexed_timestamp"], int)


def test_package_download_range_and_caching(server: Server, channel: str, published: Path) -> None:
    data = published.read_bytes()
    url = f"/{channel}/linux-64/{published.name}"
    with httpx.Client(base_url=server.url) as http:
        full = http.get(url)
        assert full.status_code == 200
        assert full.content == data
        assert full.headers["content-length"] == str(len(data))
        assert full.headers["accept-ranges"] == "bytes"
        etag = full.headers["etag"]
        assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        part = http.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == data[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
        tail = http.get(url, headers={"Range": "bytes=-5"})
        assert (tail.status_code, tail.content) == (206, data[-5:])
        resume = http.get(url, headers={"Range": f"bytes={len(data) - 7}-"})
        assert (resume.status_code, resume.content) == (206, data[-7:])
        bad = http.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
        assert bad.status_code == 416
        assert bad.headers["content-range"] == f"bytes */{len(data)}"
        changed = http.get(url, headers={"Range": "bytes=0-3", "If-Range": '"not-it"'})
        assert (changed.status_code, changed.content) == (200, data)
        assert http.get(f"/{channel}/linux-64/missing-1.0-0.conda").status_code == 404
        assert http.get(f"/{channel}/osx-64/{published.name}").status_code == 404


def test_shards_are_immutable_and_content_addressed(server: Server, channel: str, published: Path) -> None:
    import msgpack
    import zstandard

    with httpx.Client(base_url=server.url) as http:
        index = msgpack.unpackb(
            zstandard.decompress(http.get(f"/{channel}/linux-64/repodata_shards.msgpack.zst").content)
        )
        assert index["info"] == {"base_url": "", "shards_base_url": "./shards/", "subdir": "linux-64"}
        digest = index["shards"]["served"]
        shard = http.get(f"/{channel}/linux-64/shards/{digest.hex()}.msgpack.zst")
        assert shard.status_code == 200
        assert hashlib.sha256(shard.content).digest() == digest
        assert "immutable" in shard.headers["cache-control"]
        assert http.get(f"/{channel}/linux-64/shards/{'0' * 64}.msgpack.zst").status_code == 404
        assert http.get(f"/{channel}/linux-64/shards/nothex.msgpack.zst").status_code == 404


def test_shards_decode_the_way_conda_read_them_strictly(server: Server, channel: str, published: Path) -> None:
    """conda-libmamba-solver issue 748: conda rejected rattler-written shards whose zstd frames
    had no content size, whose hashes were msgpack arrays, or whose shards_base_url had no
    trailing slash. Its reader then was the strictest: decode the way it did."""
    from urllib.parse import urljoin

    import msgpack
    import zstandard

    def strict(data: bytes) -> dict:  # type: ignore[type-arg]
        assert zstandard.get_frame_parameters(data).content_size != zstandard.CONTENTSIZE_UNKNOWN
        decoded: dict = msgpack.unpackb(zstandard.decompress(data), raw=False)  # type: ignore[type-arg]
        return decoded

    index_url = f"{server.url}/{channel}/linux-64/repodata_shards.msgpack.zst"
    with httpx.Client() as http:
        index = strict(http.get(index_url).content)
        shards_base = urljoin(index_url, index["info"]["shards_base_url"])
        for name, digest in index["shards"].items():
            assert type(digest) is bytes, name
            response = http.get(urljoin(shards_base, f"{digest.hex()}.msgpack.zst"))
            assert response.status_code == 200
            shard = strict(response.content)
            for record in [*shard["packages"].values(), *shard["packages.conda"].values()]:
                assert type(record["sha256"]) is bytes
                assert type(record["md5"]) is bytes
                assert len(record["sha256"].hex()) == 64
        assert "served" in index["shards"]
        zst = http.get(f"{server.url}/{channel}/linux-64/repodata.json.zst").content
        assert zstandard.get_frame_parameters(zst).content_size != zstandard.CONTENTSIZE_UNKNOWN
        assert zstandard.decompress(zst) == http.get(f"{server.url}/{channel}/linux-64/repodata.json").content
