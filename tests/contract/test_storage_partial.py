"""``remove_partial_writes``, on every adapter: what a process killed mid-write leaves is
removed once old enough, and younger writes in progress are left alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taipan.storage.base import STAGING_PREFIX, Storage
from tests.contract.test_storage import ADAPTERS

HOUR_NS = 3600 * 10**9
BIG = 9 * 1024 * 1024  # past an S3 part: a multipart upload is under way


@pytest.fixture(params=ADAPTERS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    factory = request.param
    made: Storage = factory(tmp_path)
    return made


def test_young_partial_writes_stay(storage: Storage) -> None:
    writer = storage.writer(f"{STAGING_PREFIX}live")
    writer.write(b"x" * BIG)
    assert storage.remove_partial_writes(time.time_ns() - HOUR_NS) == 0
    writer.close()
    assert storage.stat(f"{STAGING_PREFIX}live") is not None


def test_old_partial_writes_go_and_objects_stay(storage: Storage) -> None:
    done = storage.writer("ch/noarch/done")
    done.write(b"kept")
    done.close()
    crashed = storage.writer(f"{STAGING_PREFIX}crashed")
    crashed.write(b"x" * BIG)
    removed = storage.remove_partial_writes(time.time_ns() + HOUR_NS)
    assert removed == (0 if type(storage).__name__ == "MemoryStorage" else 1)
    assert storage.remove_partial_writes(time.time_ns() + HOUR_NS) == 0
    assert [info.key for info in storage.list("")] == ["ch/noarch/done"]
    crashed.abort()  # after a sweep, aborting is still harmless
