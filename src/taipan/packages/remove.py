"""Delete one package file: its record, its shard entry and its bytes."""

from __future__ import annotations

from sqlalchemy import select

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
        lock_subdir(session, subdir_id)
        session.delete(row)
        session.flush()
        refresh_shards(session, subdir_id, [row.name])
        key = objects.object_key(channel, subdir, filename, row.object_key)
        actor = principal.username if principal else ""
        audit.record(session, actor, "package_deleted", channel=channel, target=f"{subdir}/{filename}", address=address)
    # After the commit: a crash here leaves an unindexed file behind, never a record without bytes.
    storage.delete(key)
    storage.delete(objects.attestation_of(key))
