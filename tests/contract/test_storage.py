"""The storage port's contract, run against every adapter.

To check a new adapter (S3, say), add a factory to ``ADAPTERS``; every test here then runs
against it too. Tests use only the port (``taipan.storage.base.Storage``), never an
adapter's internals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from taipan.storage.base import STAGING_PREFIX, ObjectInfo, Storage, check_key
from taipan.storage.local import LocalStorage
from taipan.storage.memory import MemoryStorage
from taipan.storage.s3 import S3Storage
from tests.support.s3 import s3_server

Factory = Callable[[Path], Storage]


def s3_storage(prefix: str) -> Factory:
    """An S3 adapter on a fresh bucket of the session's moto server."""

    def make(_tmp: Path) -> Storage:
        server = s3_server()
        return S3Storage(server.client(), server.new_bucket(), prefix)

    return make


ADAPTERS = [
    pytest.param(lambda tmp: LocalStorage(tmp / "store"), id="local"),
    pytest.param(lambda tmp: MemoryStorage(), id="memory"),
    pytest.param(s3_storage("channels"), id="s3"),
    pytest.param(s3_storage(""), id="s3-bucket-root"),
]

BAD_KEYS = ["", "/abs/key", "a//b", "a/", "../a", "a/../b", "a/./b", ".", "..", "a\\b"]


@pytest.fixture(params=ADAPTERS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    factory: Factory = request.param
    return factory(tmp_path)


def put(storage: Storage, key: str, data: bytes) -> ObjectInfo:
    writer = storage.writer(key)
    writer.write(data)
    return writer.close()


def read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as f:
        return f.read()


def keys(storage: Storage, prefix: str = "") -> list[str]:
    return sorted(info.key for info in storage.list(prefix))


# --- writer ---------------------------------------------------------------------------


def test_nothing_is_visible_before_close(storage: Storage) -> None:
    writer = storage.writer("ch/noarch/a.conda")
    writer.write(b"hello ")
    writer.write(b"world")
    assert storage.stat("ch/noarch/a.conda") is None
    assert keys(storage) == []  # and no internal temporary object shows
    with pytest.raises(FileNotFoundError):
        storage.open("ch/noarch/a.conda")
    info = writer.close()
    assert (info.key, info.size) == ("ch/noarch/a.conda", 11)
    assert read(storage, "ch/noarch/a.conda") == b"hello world"
    assert keys(storage) == ["ch/noarch/a.conda"]


def test_abort_leaves_nothing(storage: Storage) -> None:
    writer = storage.writer("ch/noarch/a.conda")
    writer.write(b"half")
    writer.abort()
    assert storage.stat("ch/noarch/a.conda") is None
    assert keys(storage) == []


def test_abort_keeps_the_object_it_would_have_replaced(storage: Storage) -> None:
    put(storage, "k/v", b"old")
    writer = storage.writer("k/v")
    writer.write(b"new")
    writer.abort()
    assert read(storage, "k/v") == b"old"


def test_replacing_shows_the_old_bytes_until_close(storage: Storage) -> None:
    put(storage, "k/v", b"old")
    writer = storage.writer("k/v")
    writer.write(b"newer")
    assert read(storage, "k/v") == b"old"
    assert writer.close().size == 5
    assert read(storage, "k/v") == b"newer"
    assert keys(storage) == ["k/v"]


def test_empty_object(storage: Storage) -> None:
    assert put(storage, "empty", b"").size == 0
    assert read(storage, "empty") == b""
    assert list(storage.read_range("empty", 0, 0)) in ([], [b""])


# --- reading --------------------------------------------------------------------------

DATA = bytes(range(256)) * 10


def test_open_is_seekable(storage: Storage) -> None:
    put(storage, "a/b", DATA)
    with storage.open("a/b") as f:
        assert f.read(4) == DATA[:4]
        f.seek(1000)
        assert f.tell() == 1000
        assert f.read(6) == DATA[1000:1006]
        f.seek(-3, 2)
        assert f.read() == DATA[-3:]
        f.seek(0)
        assert f.read() == DATA


def test_open_missing(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("no/such")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, len(DATA), DATA),
        (0, 1, DATA[:1]),
        (5, 17, DATA[5:17]),
        (len(DATA) - 3, len(DATA), DATA[-3:]),
        (100, len(DATA) + 1000, DATA[100:]),  # an end past the object stops at its end
        (len(DATA), len(DATA), b""),
    ],
)
def test_read_range_bounds(storage: Storage, start: int, end: int, expected: bytes) -> None:
    put(storage, "a/b", DATA)
    assert b"".join(storage.read_range("a/b", start, end)) == expected


def test_read_range_missing(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        b"".join(storage.read_range("no/such", 0, 10))


def test_read_range_of_a_big_object_comes_in_chunks(storage: Storage) -> None:
    big = bytes(3 * 1024 * 1024 + 7)
    put(storage, "big", big)
    chunks = list(storage.read_range("big", 1, len(big)))
    assert all(chunks)
    assert b"".join(chunks) == big[1:]


# --- stat -----------------------------------------------------------------------------


def test_stat(storage: Storage) -> None:
    assert storage.stat("a/b") is None
    before = time.time_ns()
    written = put(storage, "a/b", b"12345")
    info = storage.stat("a/b")
    assert info is not None
    assert (info.key, info.size) == ("a/b", 5)
    assert isinstance(info.modified_ns, int)
    assert before - 5_000_000_000 <= info.modified_ns <= time.time_ns() + 5_000_000_000
    assert written == info


def test_a_prefix_or_a_path_under_an_object_is_no_object(storage: Storage) -> None:
    put(storage, "a/b/c", b"x")
    for key in ("a/b", "a", "a/b/c/d"):
        assert storage.stat(key) is None
        with pytest.raises(FileNotFoundError):
            storage.open(key)
        with pytest.raises(FileNotFoundError):
            b"".join(storage.read_range(key, 0, 1))


def test_modified_ns_moves_on_rewrite(storage: Storage) -> None:
    first = put(storage, "a", b"1")
    time.sleep(0.01)
    second = put(storage, "a", b"22")
    assert second.modified_ns >= first.modified_ns
    assert second.size == 2


# --- move -----------------------------------------------------------------------------


def test_move_makes_the_bytes_appear_and_removes_src(storage: Storage) -> None:
    put(storage, f"{STAGING_PREFIX}abc", b"package")
    info = storage.move(f"{STAGING_PREFIX}abc", "ch/noarch/a.conda")
    assert (info.key, info.size) == ("ch/noarch/a.conda", 7)
    assert read(storage, "ch/noarch/a.conda") == b"package"
    assert storage.stat(f"{STAGING_PREFIX}abc") is None
    assert keys(storage) == ["ch/noarch/a.conda"]


def test_move_replaces_the_destination(storage: Storage) -> None:
    put(storage, "ch/noarch/a.conda", b"old bytes")
    put(storage, "staged", b"new")
    assert storage.move("staged", "ch/noarch/a.conda").size == 3
    assert read(storage, "ch/noarch/a.conda") == b"new"
    assert keys(storage) == ["ch/noarch/a.conda"]


def test_move_missing_source(storage: Storage) -> None:
    put(storage, "dst", b"keep")
    with pytest.raises(FileNotFoundError):
        storage.move("no/such", "dst")
    assert read(storage, "dst") == b"keep"


# --- delete ---------------------------------------------------------------------------


def test_delete(storage: Storage) -> None:
    put(storage, "a/b", b"x")
    put(storage, "a/c", b"y")
    storage.delete("a/b")
    assert storage.stat("a/b") is None
    assert keys(storage) == ["a/c"]


def test_delete_missing_is_fine(storage: Storage) -> None:
    storage.delete("no/such/key")
    storage.delete("no-such-key")


def test_delete_many(storage: Storage) -> None:
    for key in ("ch/a", "ch/b", "ch/sub/c", "other/d"):
        put(storage, key, b".")
    storage.delete_many(["ch/a", "ch/sub/c", "ch/missing", "nowhere/at/all"])
    assert keys(storage) == ["ch/b", "other/d"]
    storage.delete_many([])
    assert keys(storage) == ["ch/b", "other/d"]


def test_put_many_writes_each_and_reports_what_stat_reports(storage: Storage) -> None:
    put(storage, "ch/linux-64/b", b"old")
    put(storage, "ch/linux-64/bb", b"neighbour")
    items = [("ch/linux-64/b", b"new"), ("ch/linux-64/a", b""), ("ch/noarch/c", b"x" * 1000), ("top", b"t")]
    infos = storage.put_many(items)
    assert [info.key for info in infos] == [key for key, _ in items]
    for (key, data), info in zip(items, infos, strict=True):
        assert read(storage, key) == data
        assert storage.stat(key) == info
        assert info.size == len(data)
    assert read(storage, "ch/linux-64/bb") == b"neighbour"
    assert storage.put_many([]) == []


def test_delete_prefix(storage: Storage) -> None:
    for key in ("ch/noarch/a", "ch/noarch/sub/b", "ch/noarchx/c", "ch/linux-64/d", "other/noarch/e"):
        put(storage, key, b".")
    storage.delete_prefix("ch/noarch/")
    assert keys(storage) == ["ch/linux-64/d", "ch/noarchx/c", "other/noarch/e"]
    storage.delete_prefix("missing/")
    storage.delete_prefix("ch/")
    assert keys(storage) == ["other/noarch/e"]


# --- list -----------------------------------------------------------------------------


def test_list(storage: Storage) -> None:
    for key, data in {"ch/noarch/a": b"1", "ch/noarch/b": b"22", "ch/linux-64/c": b"333", "x/y": b""}.items():
        put(storage, key, data)
    assert keys(storage) == ["ch/linux-64/c", "ch/noarch/a", "ch/noarch/b", "x/y"]
    assert keys(storage, "ch/") == ["ch/linux-64/c", "ch/noarch/a", "ch/noarch/b"]
    assert keys(storage, "ch/noarch/") == ["ch/noarch/a", "ch/noarch/b"]
    assert keys(storage, "nothing/") == []
    sizes = {info.key: info.size for info in storage.list("ch/")}
    assert sizes == {"ch/linux-64/c": 3, "ch/noarch/a": 1, "ch/noarch/b": 2}
    assert all(info.modified_ns > 0 for info in storage.list(""))


def test_list_staging(storage: Storage) -> None:
    put(storage, f"{STAGING_PREFIX}one", b"1")
    put(storage, "ch/noarch/a", b"2")
    assert keys(storage, STAGING_PREFIX) == [f"{STAGING_PREFIX}one"]


def test_list_skips_writes_in_progress(storage: Storage) -> None:
    put(storage, "done", b"1")
    writers = [storage.writer(f"{STAGING_PREFIX}w{i}") for i in range(3)]
    for writer in writers:
        writer.write(b"partial")
    assert keys(storage) == ["done"]
    for writer in writers:
        writer.abort()


# --- keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", BAD_KEYS)
def test_check_key_refuses(key: str) -> None:
    with pytest.raises(ValueError, match="bad storage key"):
        check_key(key)


@pytest.mark.parametrize("key", ["a", "ch/noarch/a-1.0-0.conda", ".staging/abc", "a/.b/c", "a..b/c"])
def test_check_key_allows(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_every_operation_refuses_a_bad_key(storage: Storage, key: str) -> None:
    put(storage, "good", b"x")
    with pytest.raises(ValueError, match="bad storage key"):
        storage.writer(key)
    with pytest.raises(ValueError, match="bad storage key"):
        storage.open(key)
    with pytest.raises(ValueError, match="bad storage key"):
        storage.stat(key)
    with pytest.raises(ValueError, match="bad storage key"):
        storage.delete(key)
    with pytest.raises(ValueError, match="bad storage key"):
        b"".join(storage.read_range(key, 0, 1))
    with pytest.raises(ValueError, match="bad storage key"):
        storage.move("good", key)
    assert read(storage, "good") == b"x", "a refused move leaves its source"


def test_check(storage: Storage) -> None:
    storage.check()
