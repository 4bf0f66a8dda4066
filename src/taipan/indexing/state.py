"""Index bookkeeping done inside the transaction that changes a subdir.

Every change to a subdir's files calls :func:`lock_subdir` first: it bumps the subdir's
revision, and the row update is the lock that serialises concurrent writers (PostgreSQL
row lock; SQLite's database write lock). Then :func:`refresh_shards` rewrites the shard
of each package name the change touched, from the rows as they now are, so the work is
proportional to that name's records and not to the subdir.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from taipan.conda.shards import encode_shard, shard_digest
from taipan.db.models import PackageFile, ShardBlob, ShardPointer, Subdir, now_ms
from taipan.db.upsert import insert_or_ignore, insert_or_update


def ensure_subdir(session: Session, channel_id: int, name: str) -> int:
    """The id of the channel's subdir ``name``, made if missing (safe against a concurrent maker)."""
    values = {
        "channel_id": channel_id,
        "name": name,
        "revision": 0,
        "epoch": secrets.token_hex(8),
        "updated_ms": now_ms(),
    }
    insert_or_ignore(session, Subdir.__table__, values, ["channel_id", "name"])  # type: ignore[arg-type]
    found = session.scalar(select(Subdir.id).where(Subdir.channel_id == channel_id, Subdir.name == name))
    assert found is not None
    return found


def lock_subdir(session: Session, subdir_id: int) -> None:
    session.execute(
        update(Subdir).where(Subdir.id == subdir_id).values(revision=Subdir.revision + 1, updated_ms=now_ms())
    )


def refresh_shards(session: Session, subdir_id: int, names: Iterable[str]) -> None:
    for name in sorted(set(names)):
        _refresh_shard(session, subdir_id, name)


def _refresh_shard(session: Session, subdir_id: int, name: str) -> None:
    rows = session.execute(
        select(PackageFile.filename, PackageFile.record, PackageFile.run_exports)
        .where(PackageFile.subdir_id == subdir_id, PackageFile.name == name)
        .order_by(PackageFile.filename)
    ).all()
    if not rows:
        session.execute(delete(ShardPointer).where(ShardPointer.subdir_id == subdir_id, ShardPointer.name == name))
        return
    data = encode_shard((fn, rec, orjson.loads(rx) if rx else None) for fn, rec, rx in rows)
    digest = shard_digest(data)
    blob = {"subdir_id": subdir_id, "digest": digest, "data": data, "created_ms": now_ms()}
    insert_or_ignore(session, ShardBlob.__table__, blob, ["subdir_id", "digest"])  # type: ignore[arg-type]
    pointer = {"subdir_id": subdir_id, "name": name, "digest": digest}
    insert_or_update(session, ShardPointer.__table__, pointer, ["subdir_id", "name"], ["digest"])  # type: ignore[arg-type]
