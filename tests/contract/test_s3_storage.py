"""What only the S3 adapter has to get right: multipart uploads and copies, bounded
read-ahead, conditional reads, presigned URLs, and times that agree between calls.
The port's contract itself is in test_storage.py (run on S3 too)."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from taipan.storage.s3 import MIB, READ_BLOCK_MAX, S3Storage
from tests.support.s3 import s3_server


@pytest.fixture
def s3() -> S3Storage:
    server = s3_server()
    return S3Storage(server.client(), server.new_bucket(), "pre/fix", part_size=5 * MIB)


@pytest.fixture
def gets(s3: S3Storage) -> Iterator[list[str]]:
    """The Range of every GetObject the adapter sends while the test runs."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params.get("Range", ""))

    s3.client.meta.events.register("provide-client-params.s3.GetObject", record)
    yield seen
    s3.client.meta.events.unregister("provide-client-params.s3.GetObject", record)


def uploads_in_progress(s3: S3Storage) -> list[str]:
    listed = s3.client.list_multipart_uploads(Bucket=s3.bucket)
    return [u["Key"] for u in listed.get("Uploads", [])]


def test_a_large_object_goes_up_in_parts_unseen_until_close(s3: S3Storage) -> None:
    data = os.urandom(12 * MIB + 5)
    writer = s3.writer("ch/noarch/big.conda")
    for i in range(0, len(data), MIB):
        writer.write(data[i : i + MIB])
    assert uploads_in_progress(s3) == ["pre/fix/ch/noarch/big.conda"]
    assert s3.stat("ch/noarch/big.conda") is None
    assert list(s3.list("")) == []
    info = writer.close()
    assert info.size == len(data)
    assert uploads_in_progress(s3) == []
    with s3.open("ch/noarch/big.conda") as f:
        assert f.read() == data


def test_abort_cancels_the_multipart_upload(s3: S3Storage) -> None:
    writer = s3.writer("k")
    writer.write(bytes(6 * MIB))
    assert uploads_in_progress(s3) == ["pre/fix/k"]
    writer.abort()
    writer.abort()  # twice is fine
    assert uploads_in_progress(s3) == []
    assert s3.stat("k") is None


def test_exactly_one_part(s3: S3Storage) -> None:
    writer = s3.writer("k")
    writer.write(bytes(5 * MIB))
    assert writer.close().size == 5 * MIB


def test_keys_live_under_the_prefix(s3: S3Storage) -> None:
    s3.writer("a/b").close()
    names = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert names == ["pre/fix/a/b"]
    assert [i.key for i in s3.list("")] == ["a/b"]


def test_move_above_the_copy_limit_copies_in_parts(s3: S3Storage) -> None:
    big = S3Storage(s3.client, s3.bucket, "pre/fix", part_size=5 * MIB, copy_limit=5 * MIB, copy_part_size=5 * MIB)
    data = os.urandom(11 * MIB)
    writer = big.writer(".staging/x")
    writer.write(data)
    writer.close()
    info = big.move(".staging/x", "ch/noarch/x.conda")
    assert info.size == len(data)
    assert big.stat(".staging/x") is None
    with big.open("ch/noarch/x.conda") as f:
        assert f.read() == data
    assert uploads_in_progress(big) == []


def test_stat_after_move_is_what_every_later_call_reports(s3: S3Storage) -> None:
    writer = s3.writer(".staging/y")
    writer.write(b"package bytes")
    writer.close()
    moved = s3.move(".staging/y", "ch/noarch/y.conda")
    assert moved.modified_ns % 1_000_000_000 == 0
    assert s3.stat("ch/noarch/y.conda") == moved
    assert list(s3.list("ch/")) == [moved]


def test_sequential_reads_grow_the_read_ahead(s3: S3Storage, gets: list[str]) -> None:
    data = os.urandom(40 * MIB)
    writer = s3.writer("seq")
    writer.write(data)
    writer.close()
    gets.clear()
    out = bytearray()
    with s3.open("seq") as f:
        while chunk := f.read(64 * 1024):
            out += chunk
    assert out == data
    sizes = [_range_size(r) for r in gets]
    assert max(sizes) <= READ_BLOCK_MAX  # bounded buffer
    assert len(gets) <= 12  # 256 KiB, 512 KiB, ... 8 MiB, 8 MiB, ...: not 640 small GETs


def test_zip_reads_near_the_end_share_one_block(s3: S3Storage, gets: list[str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
        zf.writestr("pkg-x.tar.zst", os.urandom(3 * MIB))
        zf.writestr("info-x.tar.zst", b"info" * 100)
    writer = s3.writer("z.conda")
    writer.write(buffer.getvalue())
    writer.close()
    gets.clear()
    with s3.open("z.conda") as f, zipfile.ZipFile(f) as zf:
        assert zf.read("info-x.tar.zst") == b"info" * 100
        assert zf.read("metadata.json").startswith(b"{")
    assert len(gets) <= 3, gets


def test_an_object_replaced_while_read_fails_the_read(s3: S3Storage) -> None:
    writer = s3.writer("r")
    writer.write(os.urandom(2 * MIB))
    writer.close()
    with s3.open("r") as f:
        f.read(10)
        writer = s3.writer("r")
        writer.write(os.urandom(2 * MIB))
        writer.close()
        f.seek(MIB + 17)
        with pytest.raises(OSError, match="replaced"):
            f.read(10)


def test_presigned_url(s3: S3Storage) -> None:
    writer = s3.writer("ch/noarch/p.conda")
    writer.write(b"presigned")
    writer.close()
    url = s3.presigned_url("ch/noarch/p.conda", 60)
    # SigV4, whose signature covers the method (a HEAD on a GET URL fails on real stores;
    # moto does not check signatures, so that part is not testable here).
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "X-Amz-Expires=60" in url
    assert "/pre/fix/ch/noarch/p.conda?" in url
    assert httpx.get(url).content == b"presigned"


def _range_size(header: str) -> int:
    start, end = header.removeprefix("bytes=").split("-")
    return int(end) - int(start) + 1


@pytest.fixture
def requests(s3: S3Storage) -> Iterator[list[str]]:
    """The operation name of every request the adapter sends while the test runs."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    s3.client.meta.events.register("before-call.s3", record)
    yield seen
    s3.client.meta.events.unregister("before-call.s3", record)


def test_put_many_reads_times_back_with_a_listing_not_a_head_each(s3: S3Storage, requests: list[str]) -> None:
    for i in range(0, 300, 3):  # other objects of the folder, between and around the new ones
        writer = s3.writer(f"ch/linux-64/f{i:04d}")
        writer.write(b"old")
        writer.close()
    requests.clear()
    items = [(f"ch/linux-64/f{i:04d}", b"new") for i in range(1, 300, 3)] + [("ch/noarch/n", b"n")]
    infos = s3.put_many(items)
    assert requests.count("PutObject") == len(items)
    assert requests.count("ListObjectsV2") == 2  # one listing per folder
    assert "HeadObject" not in requests
    assert [s3.stat(key) for key, _ in items] == infos


def test_delete_many_is_one_request_per_thousand_keys(s3: S3Storage, requests: list[str]) -> None:
    keys = [f"d/{i}" for i in range(1500)]
    s3.put_many([(key, b".") for key in keys[:20]])
    requests.clear()
    s3.delete_many(keys)
    assert requests == ["DeleteObjects", "DeleteObjects"]
    assert list(s3.list("d/")) == []


def test_a_store_without_multi_object_delete_gets_one_delete_each(s3: S3Storage, requests: list[str]) -> None:
    refused: list[int] = []

    def refuse(**_: Any) -> None:
        refused.append(1)
        raise ClientError({"Error": {"Code": "NotImplemented", "Message": "no"}}, "DeleteObjects")

    s3.put_many([("e/1", b"."), ("e/2", b".")])
    s3.client.meta.events.register("before-call.s3.DeleteObjects", refuse)
    try:
        s3.delete_many(["e/1", "e/2"])
        s3.delete_many(["e/3"])
    finally:
        s3.client.meta.events.unregister("before-call.s3.DeleteObjects", refuse)
    assert list(s3.list("e/")) == []
    assert len(refused) == 1  # refused once, never asked again
    assert requests.count("DeleteObject") == 3
