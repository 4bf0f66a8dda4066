"""Delete package files: their records, their shard entries and their bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import PackageFile, Subdir
from taipan.errors import NotFound
from taipan.indexing.state import lock_subdir, refresh_shards
from taipan.packages import objects
from taipan.storage.base import Storage


def delete_file(
    db: Database,
    storage: Storage,
    principal: Principal | None,
    channel: str,
    subdir: str,
    filename: str,
    address: str | None = None,
) -> None:
    """Contributors and owners may delete; the index changes in the same transaction."""
    access.refuse_publisher(principal, "delete packages")
    with db.write() as session:
        cid = access.require(session, principal, channel, Role.CONTRIBUTOR).id
        subdir_id = session.scalar(select(Subdir.id).where(Subdir.channel_id == cid, Subdir.name == subdir))
        row = None
        if subdir_id is not None:
            row = session.scalar(
                select(PackageFile).where(PackageFile.subdir_id == subdir_id, PackageFile.filename == filename)
            )
        if subdir_id is None or row is None:
            raise NotFound(f"{subdir}/{filename} does not exist in channel {channel!r}")
        key = objects.object_key(channel, subdir, filename, row.object_key)
        _delete(session, principal, channel, [(subdir, row)], address)
    _delete_bytes(storage, [key])


def delete_package(
    db: Database,
    storage: Storage,
    principal: Principal | None,
    channel: str,
    name: str,
    version: str | None = None,
    address: str | None = None,
) -> list[str]:
    """Delete every file named ``name`` (of ``version``, if given) in ``channel``, all in one
    transaction, as ``delete_file`` deletes one. Returns their ``subdir/filename``."""
    access.refuse_publisher(principal, "delete packages")
    with db.write() as session:
        cid = access.require(session, principal, channel, Role.CONTRIBUTOR).id
        query = (
            select(Subdir.name, PackageFile)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(Subdir.channel_id == cid, PackageFile.name == name)
            .order_by(PackageFile.subdir_id, PackageFile.filename)  # locks in one order: no deadlock
        )
        if version is not None:
            query = query.where(PackageFile.version == version)
        rows = [(subdir, row) for subdir, row in session.execute(query).tuples()]
        if not rows:
            what = f"release {name} {version}" if version is not None else f"package {name!r}"
            raise NotFound(f"{what} does not exist in channel {channel!r}")
        _delete(session, principal, channel, rows, address)
        removed = [f"{subdir}/{row.filename}" for subdir, row in rows]
        keys = [objects.object_key(channel, subdir, row.filename, row.object_key) for subdir, row in rows]
    _delete_bytes(storage, keys)
    return removed


def _delete(
    session: Session,
    principal: Principal | None,
    channel: str,
    rows: Sequence[tuple[str, PackageFile]],
    address: str | None,
) -> None:
    names: dict[int, set[str]] = {}
    for _, row in rows:
        if row.subdir_id not in names:
            lock_subdir(session, row.subdir_id)
            names[row.subdir_id] = set()
        names[row.subdir_id].add(row.name)
    for _, row in rows:
        session.delete(row)
    session.flush()
    for subdir_id, touched in names.items():
        refresh_shards(session, subdir_id, touched)
    actor = principal.username if principal else ""
    for subdir, row in rows:
        target = f"{subdir}/{row.filename}"
        audit.record(session, actor, "package_deleted", channel=channel, target=target, address=address)


def _delete_bytes(storage: Storage, keys: Sequence[str]) -> None:
    # After the commit: a crash here leaves an unindexed file behind, never a record without bytes.
    for key in keys:
        storage.delete(key)
        storage.delete(objects.attestation_of(key))
