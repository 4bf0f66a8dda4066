"""record_files: a failed transaction leaves storage exactly as it was, replaced files included."""

from __future__ import annotations

from pathlib import Path

import pytest

from taipan.accounts import keys
from taipan.channels.service import create_channel
from taipan.conda.hashing import StreamHasher
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.packages import ingest
from taipan.packages.checks import Staged, check_package
from taipan.packages.ingest import record_files
from taipan.storage.base import ObjectInfo
from taipan.storage.memory import MemoryStorage
from tests.support import packages
from tests.support.packages import Spec


def _stage(storage: MemoryStorage, path: Path, key: str) -> Staged:
    data = path.read_bytes()
    hasher = StreamHasher()
    hasher.update(data)
    writer = storage.writer(key)
    writer.write(data)
    writer.close()
    return Staged(key, hasher.result())


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(database)
    keys.reset_admin_token(database, tmp_path / "token")
    admin = keys.principal_for_key(database, (tmp_path / "token").read_text().strip())
    create_channel(database, admin, "chan")
    return database


def test_failed_force_replace_restores_the_old_bytes(db: Database, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    storage = MemoryStorage()
    old = packages.build(Spec("pkg", files={"a": b"old"}), tmp_path / "old")
    new = packages.build(Spec("pkg", files={"a": b"new contents"}), tmp_path / "new")
    for path, key, force in ((old, ".staging/1", False), (new, ".staging/2", True)):
        staged = _stage(storage, path, key)
        checked = check_package(storage, staged, path.name, max_size=10**9, max_ratio=100)
        if force:

            def boom(*_args: object) -> None:
                raise RuntimeError("the database went away")

            monkeypatch.setattr(ingest, "refresh_shards", boom)
            with pytest.raises(RuntimeError):
                record_files(db, storage, "chan", [(checked, key)], True, "tester")
        else:
            record_files(db, storage, "chan", [(checked, key)], False, "tester")
    with storage.open("chan/noarch/pkg-1.0-0.conda") as f:
        assert f.read() == old.read_bytes()
    assert list(storage.list(".staging/")) == []  # no set-aside copy is left behind


def test_failed_new_file_is_removed(db: Database, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    storage = MemoryStorage()
    path = packages.build(Spec("fresh"), tmp_path)
    staged = _stage(storage, path, ".staging/x")
    checked = check_package(storage, staged, path.name, max_size=10**9, max_ratio=100)

    def boom(*_args: object) -> None:
        raise RuntimeError("no")

    monkeypatch.setattr(ingest, "refresh_shards", boom)
    with pytest.raises(RuntimeError):
        record_files(db, storage, "chan", [(checked, ".staging/x")], False, "tester")
    assert storage.stat("chan/noarch/fresh-1.0-0.conda") is None


class _RoundTrips(MemoryStorage):
    """An object store's way: moves worth sending many at once, and one that fails midway."""

    parallel_requests = 8

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.fail_on = fail_on

    def move(self, src: str, dst: str) -> ObjectInfo:
        if self.fail_on is not None and dst.endswith(self.fail_on):
            raise OSError("the object store went away")
        return super().move(src, dst)


@pytest.mark.parametrize("fail_on", [None, "p7-1.0-0.conda"])
def test_a_batch_moves_concurrently_and_a_failed_move_undoes_them_all(
    db: Database, tmp_path: Path, fail_on: str | None
) -> None:
    storage = _RoundTrips(fail_on)
    items = []
    for i in range(12):
        path = packages.build(Spec(f"p{i}"), tmp_path)
        staged = _stage(storage, path, f".staging/{i}")
        items.append((check_package(storage, staged, path.name, max_size=10**9, max_ratio=100), staged.key))
    if fail_on is None:
        stored = record_files(db, storage, "chan", items, False, "tester")
        assert sorted(s.filename for s in stored) == sorted(str(c.filename) for c, _ in items)
        assert {info.key for info in storage.list("chan/")} == {f"chan/noarch/{c.filename}" for c, _ in items}
        return
    with pytest.raises(OSError, match="went away"):
        record_files(db, storage, "chan", items, False, "tester")
    assert list(storage.list("chan/")) == []  # the moves that went through were undone


def test_a_batch_naming_a_file_twice_is_refused(db: Database, tmp_path: Path) -> None:
    storage = MemoryStorage()
    path = packages.build(Spec("twice"), tmp_path)
    checked = check_package(storage, _stage(storage, path, ".staging/a"), path.name, max_size=10**9, max_ratio=100)
    _stage(storage, path, ".staging/b")
    with pytest.raises(ValueError, match="once"):
        record_files(db, storage, "chan", [(checked, ".staging/a"), (checked, ".staging/b")], False, "tester")
