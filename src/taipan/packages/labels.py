"""Labels on package files: list them, add and remove them, promote a whole label.

Every change runs under the subdir's lock and rewrites the affected shards in the same
transaction, so the next fetch of any label's index reflects it (read-your-writes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.conda.names import check_label
from taipan.db.engine import Database
from taipan.db.models import FileLabel, PackageFile, Subdir
from taipan.errors import Conflict, NotFound
from taipan.indexing.state import assign_labels, lock_subdir, refresh_shards


@dataclass(frozen=True)
class LabelCount:
    label: str
    files: int


def list_labels(db: Database, principal: Principal | None, channel: str) -> list[LabelCount]:
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        rows = session.execute(
            select(FileLabel.label, func.count(FileLabel.file_id))
            .join(PackageFile, PackageFile.id == FileLabel.file_id)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(Subdir.channel_id == ref.id)
            .group_by(FileLabel.label)
            .order_by(FileLabel.label)
        ).all()
    return [LabelCount(label, count) for label, count in rows]


def labels_of(db: Database, principal: Principal | None, channel: str, subdir: str, filename: str) -> list[str]:
    with db.read() as session:
        row = _file(session, principal, channel, subdir, filename, Role.VIEWER)
        return sorted(session.scalars(select(FileLabel.label).where(FileLabel.file_id == row.id)))


def change_labels(
    db: Database,
    principal: Principal | None,
    channel: str,
    subdir: str,
    filename: str,
    *,
    add: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
    address: str | None = None,
) -> list[str]:
    """Add and remove labels of one file; a file always keeps at least one label."""
    for label in (*add, *remove):
        check_label(label)
    with db.write() as session:
        row = _file(session, principal, channel, subdir, filename, Role.CONTRIBUTOR)
        lock_subdir(session, row.subdir_id)
        have = set(session.scalars(select(FileLabel.label).where(FileLabel.file_id == row.id)))
        want = (have | set(add)) - set(remove)
        if not want:
            raise Conflict(f"{subdir}/{filename} would have no label left; delete the file instead")
        added, removed = assign_labels(session, row.id, want, replace=True)
        refresh_shards(session, row.subdir_id, [row.name])
        actor = principal.username if principal else ""
        for action, labels in (("label_added", added), ("label_removed", removed)):
            for label in sorted(labels):
                audit.record(
                    session,
                    actor,
                    action,
                    channel=channel,
                    target=f"{subdir}/{filename}",
                    detail=label,
                    address=address,
                )
        return sorted(want)


def promote(
    db: Database,
    principal: Principal | None,
    channel: str,
    source: str,
    target: str,
    *,
    move: bool = False,
    address: str | None = None,
) -> int:
    """Give every file labelled ``source`` the label ``target`` too (``move``: instead). Returns how many."""
    check_label(source)
    check_label(target)
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.CONTRIBUTOR)
        files = session.execute(
            select(PackageFile.id, PackageFile.subdir_id, PackageFile.name)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .join(FileLabel, FileLabel.file_id == PackageFile.id)
            .where(Subdir.channel_id == ref.id, FileLabel.label == source)
            .order_by(PackageFile.subdir_id)
        ).all()
        if not files:
            raise NotFound(f"no file in channel {channel!r} has the label {source!r}")
        names: dict[int, set[str]] = defaultdict(set)
        for file_id, subdir_id, name in files:
            if subdir_id not in names:
                lock_subdir(session, subdir_id)
            names[subdir_id].add(name)
            assign_labels(session, file_id, [target], replace=False)
            if move and source != target:
                session.execute(delete(FileLabel).where(FileLabel.file_id == file_id, FileLabel.label == source))
        for subdir_id, touched in names.items():
            refresh_shards(session, subdir_id, touched)
        audit.record(
            session,
            principal.username if principal else "",
            "label_promoted",
            channel=channel,
            target=f"{source} -> {target}",
            detail=f"files={len(files)} move={move}",
            address=address,
        )
        return len(files)


def _file(
    session: Session, principal: Principal | None, channel: str, subdir: str, filename: str, needed: Role
) -> PackageFile:
    ref = access.require(session, principal, channel, needed)
    row = session.scalar(
        select(PackageFile)
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .where(Subdir.channel_id == ref.id, Subdir.name == subdir, PackageFile.filename == filename)
    )
    if row is None:
        raise NotFound(f"{subdir}/{filename} does not exist in channel {channel!r}")
    return row


@dataclass(frozen=True)
class LabelledFile:
    subdir: str
    filename: str
    name: str
    version: str


MAX_LISTED = 10_000
"""Files ``label_files`` lists at most."""


def label_files(db: Database, principal: Principal | None, channel: str, label: str) -> list[LabelledFile]:
    """The files carrying ``label`` (the first MAX_LISTED, by subdir and name); NotFound if none."""
    check_label(label)
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        rows = session.execute(
            select(Subdir.name, PackageFile.filename, PackageFile.name, PackageFile.version)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .join(FileLabel, FileLabel.file_id == PackageFile.id)
            .where(Subdir.channel_id == ref.id, FileLabel.label == label)
            .order_by(Subdir.name, PackageFile.filename)
            .limit(MAX_LISTED)
        ).all()
    if not rows:
        raise NotFound(f"no file in channel {channel!r} has the label {label!r}")
    return [LabelledFile(*row) for row in rows]


def remove_label(
    db: Database,
    principal: Principal | None,
    channel: str,
    label: str,
    *,
    name: str | None = None,
    version: str | None = None,
    basename: str | None = None,
    address: str | None = None,
) -> int:
    """Take ``label`` off every file carrying it (only those of ``name``, ``version`` or
    ``basename`` = SUBDIR/FILENAME, if given). A file always keeps at least one label, so when
    some file carries only this one nothing changes (Conflict). Returns how many files changed."""
    check_label(label)
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.CONTRIBUTOR)
        carrying = (
            select(PackageFile.id)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .join(FileLabel, FileLabel.file_id == PackageFile.id)
            .where(Subdir.channel_id == ref.id, FileLabel.label == label)
        )
        if name is not None:
            carrying = carrying.where(PackageFile.name == name)
        if version is not None:
            carrying = carrying.where(PackageFile.version == version)
        if basename is not None:
            subdir, _, filename = basename.partition("/")
            carrying = carrying.where(Subdir.name == subdir, PackageFile.filename == filename)
        touched = session.execute(
            select(PackageFile.subdir_id, PackageFile.name, func.count())
            .where(PackageFile.id.in_(carrying))
            .group_by(PackageFile.subdir_id, PackageFile.name)
            .order_by(PackageFile.subdir_id)
        ).all()
        if not touched:
            raise NotFound(f"no file in channel {channel!r} has the label {label!r}")
        other = exists().where(FileLabel.file_id == PackageFile.id, FileLabel.label != label)
        alone = session.scalar(
            select(func.count()).select_from(PackageFile).where(PackageFile.id.in_(carrying), ~other)
        )
        if alone:
            raise Conflict(
                f"{alone} file(s) in channel {channel!r} carry only the label {label!r}, and a file always keeps "
                "one: give them another label first (e.g. copy the label to main), or delete them"
            )
        names: dict[int, set[str]] = defaultdict(set)
        for subdir_id, package, _ in touched:
            if subdir_id not in names:
                lock_subdir(session, subdir_id)
            names[subdir_id].add(package)
        session.execute(
            delete(FileLabel).where(FileLabel.label == label, FileLabel.file_id.in_(carrying.scalar_subquery()))
        )
        for subdir_id, package_names in names.items():
            refresh_shards(session, subdir_id, package_names)
        files = sum(count for _, _, count in touched)
        audit.record(
            session,
            principal.username if principal else "",
            "label_removed",
            channel=channel,
            target=label,
            detail=f"files={files}",
            address=address,
        )
        return files
