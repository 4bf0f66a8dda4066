"""Rebuild one subdir's index from the database rows (prefix.dev's ``POST /api/v1/reindex``).

Taipan keeps its index current on every change, so this is never needed for
correctness; it is the repair and the answer to clients that ask for it. Only the
index is rebuilt: the rows stay as they are (``taipan index rebuild`` re-reads storage).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import PackageFile, ShardPointer, Subdir
from taipan.errors import NotFound
from taipan.indexing.state import lock_subdir, refresh_shards


@dataclass(frozen=True)
class Reindexed:
    channel: str
    subdir: str
    files: int
    names: int
    revision: int


def reindex_subdir(db: Database, principal: Principal | None, channel: str, subdir: str) -> Reindexed:
    """Re-encode every shard of the subdir from its rows, under the subdir's lock.

    Names that only a stale shard pointer still mentions are included, so their pointers
    go. The revision moves on, so every cached index file is built afresh. Contributors
    and owners may do it."""
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.CONTRIBUTOR)
        subdir_id = session.scalar(select(Subdir.id).where(Subdir.channel_id == ref.id, Subdir.name == subdir))
        if subdir_id is None:
            raise NotFound(f"subdir {subdir!r} does not exist in channel {channel!r}")
        lock_subdir(session, subdir_id)
        in_rows = select(PackageFile.name).where(PackageFile.subdir_id == subdir_id)
        in_pointers = select(ShardPointer.name).where(ShardPointer.subdir_id == subdir_id)
        live = set(session.scalars(in_rows))
        refresh_shards(session, subdir_id, live | set(session.scalars(in_pointers)))
        files = session.scalar(select(func.count()).select_from(PackageFile).where(PackageFile.subdir_id == subdir_id))
        revision = session.scalar(select(Subdir.revision).where(Subdir.id == subdir_id))
    return Reindexed(channel, subdir, files or 0, len(live), revision or 0)
