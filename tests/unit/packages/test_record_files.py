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
from taipan.packages.ingest import Staged, check_package, record_files
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
