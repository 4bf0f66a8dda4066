"""The staging owner: keys, what a scope removes when it closes, and the sweep of leftovers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taipan.packages.staging import AGE_FACTOR, Staging, staging_key
from taipan.storage.base import STAGING_PREFIX, Storage
from taipan.storage.local import LocalStorage
from taipan.storage.memory import MemoryStorage

HOUR_NS = 3600 * 10**9


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return MemoryStorage() if request.param == "memory" else LocalStorage(tmp_path / "store")


def staged(storage: Storage) -> list[str]:
    return sorted(info.key for info in storage.list(STAGING_PREFIX))


def test_keys_are_staging_keys() -> None:
    key = staging_key("replaced-")
    assert key.startswith(f"{STAGING_PREFIX}replaced-")
    assert staging_key() != staging_key()


def test_a_scope_removes_what_was_not_consumed(storage: Storage) -> None:
    with Staging(storage, 60).scope() as scope:
        kept = scope.put(b"consumed")
        dropped = scope.put(b"left over")
        key, writer = scope.writer()
        writer.write(b"never closed")
        scope.consumed(kept)
        assert staged(storage) == sorted([kept, dropped])
    assert staged(storage) == [kept]
    assert storage.remove_partial_writes(time.time_ns() + HOUR_NS) == 0, "the open writer was aborted"
    assert storage.stat(key) is None


def _failing_handler(storage: Storage) -> None:
    with Staging(storage, 60).scope() as scope:
        scope.put(b"a")
        scope.put(b"b")
        raise RuntimeError("the handler failed")


def test_a_scope_cleans_up_on_an_exception(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        _failing_handler(storage)
    assert staged(storage) == []


def test_the_sweep_removes_only_what_is_older_than_twice_the_timeout(storage: Storage) -> None:
    staging = Staging(storage, 60)
    assert staging.max_age_s == AGE_FACTOR * 60
    key = staging.scope().put(b"a crashed upload's file")  # the scope never closes: a crash
    writer = storage.writer(staging_key())
    writer.write(b"a crashed upload's partial write")
    assert staging.sweep().staged == 0, "young leftovers may belong to a live upload"
    assert staged(storage) == [key]
    swept = staging.sweep(now_ns=time.time_ns() + int(staging.max_age_s * 1e9) + 10**9)
    assert swept.staged == 1
    assert swept.partial == (1 if isinstance(storage, LocalStorage) else 0)
    assert staged(storage) == []
    writer.abort()


def test_local_partial_writes_are_in_tmp_and_swept(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    writer = storage.writer("ch/noarch/x.conda")
    writer.write(b"half")
    assert len(list((tmp_path / "store" / ".tmp").iterdir())) == 1
    assert storage.remove_partial_writes(time.time_ns() - HOUR_NS) == 0
    assert storage.remove_partial_writes(time.time_ns() + HOUR_NS) == 1
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []
    writer.abort()
