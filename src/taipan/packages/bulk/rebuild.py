"""``taipan index rebuild``: the records made again from the package files in storage alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from taipan.channels.service import channel_id
from taipan.conda.names import EXTENSIONS, check_channel_name, is_subdir
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, ShardPointer, Subdir
from taipan.errors import NotFound, TaipanError
from taipan.indexing.state import lock_subdir, refresh_shards
from taipan.packages import objects
from taipan.packages.bulk.importing import ensure_channel
from taipan.packages.bulk.pool import BATCH, Job, Limits, Result, default_workers, run_jobs
from taipan.packages.bulk.reporting import Problem, Progress, Silent
from taipan.packages.bulk.work import check_stored
from taipan.packages.checks import Checked
from taipan.packages.ingest import record_files
from taipan.packages.objects import ATTESTATION_SUFFIX
from taipan.storage.base import ObjectInfo, Storage
from taipan.storage.factory import StorageConfig


@dataclass
class RebuildReport:
    channels: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    recorded: int = 0
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def rebuild_index(
    db: Database,
    storage: Storage,
    limits: Limits,
    *,
    channel: str | None = None,
    public: bool = False,
    storage_url: StorageConfig | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Make the records of ``channel`` (or of every channel) agree with the package files in storage.

    Every file at ``{channel}/{subdir}/{filename}`` is hashed and checked as an upload
    would be, then recorded where it lies, with the same indexed_timestamp an upload
    gave it (the object's write time), so records come out byte for byte as they were.
    Channels missing from the database are created, private unless ``public`` (whether
    they were public went with the database; guessing "public" could publish packages
    that were not meant to be), and without an owner. Records whose file is gone or no
    longer valid are removed; invalid and unexpected files are reported, never deleted.
    Every subdir of a rebuilt channel gets a new revision. Objects of a recorded file other
    than the one its record points at (a crash mid-replace) are deleted. Workers open the
    storage from ``storage_url``; without it the files are checked in this process.
    """
    progress = progress or Silent()
    report = RebuildReport()
    if channel is not None:
        check_channel_name(channel)
    found = _stored_packages(db, storage, channel, report)
    names = set(found) | _channel_names(db)
    if channel is not None:
        if channel not in names:
            raise NotFound(f"channel {channel!r} has neither files in storage nor a record")
        names = {channel}
    for name in sorted(names):
        if _rebuildable(db, name, public, report):
            report.channels.append(name)
    jobs = [
        Job(key, filename, subdir)
        for ch in report.channels
        for subdir, filenames in sorted(found.get(ch, {}).items())
        for filename, key in sorted(filenames.items())
    ]
    progress.start(len(jobs))
    results = run_jobs(jobs, check_stored, limits, storage, storage_url, workers or default_workers())
    recorded = _record_in_place(db, storage, results, report, progress)
    invalid = {p.location for p in report.problems}
    for ch in report.channels:
        _prune(db, storage, ch, recorded.get(ch, {}), invalid, report)
        objects.collect_superseded(db, storage, ch)  # what a crash mid-replace left
    db.analyze()
    return report


def _stored_packages(
    db: Database, storage: Storage, channel: str | None, report: RebuildReport
) -> dict[str, dict[str, dict[str, str]]]:
    """channel -> subdir -> file name -> the key of its bytes, from the storage listing; anything else is reported.

    A file may have several objects (plain and ``.versions/`` keys, after a crash mid-replace):
    the one its record points at is taken, or else the newest (``objects.pick``)."""
    seen: dict[tuple[str, str, str], list[ObjectInfo]] = {}
    for info in storage.list(f"{channel}/" if channel is not None else ""):
        parts = info.key.split("/")
        where = objects.parse_key(info.key)
        if any(part.startswith(".") for i, part in enumerate(parts) if not (i == 2 and where is not None)):
            continue  # internal: staging and temporary objects
        if parts[-1].endswith(ATTESTATION_SUFFIX):
            continue  # recorded with its package
        if where is None or not is_subdir(where[1]) or not where[2].endswith(EXTENSIONS):
            report.problems.append(Problem(info.key, "not a package at channel/subdir/file; left alone"))
            continue
        seen.setdefault(where, []).append(info)
    referenced = _referenced_keys(db)
    found: dict[str, dict[str, dict[str, str]]] = {}
    for (ch, subdir, filename), infos in seen.items():
        chosen = objects.pick(infos, referenced.get((ch, subdir, filename)))
        found.setdefault(ch, {}).setdefault(subdir, {})[filename] = chosen.key
    return found


def _referenced_keys(db: Database) -> dict[tuple[str, str, str], str]:
    """(channel, subdir, file name) -> the key its record points at, for every record."""
    with db.read() as session:
        rows = session.execute(
            select(Channel.name, Subdir.name, PackageFile.filename, PackageFile.object_key)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .join(Channel, Channel.id == Subdir.channel_id)
        ).all()
    return {(ch, sd, fn): objects.object_key(ch, sd, fn, key) for ch, sd, fn, key in rows}


def _channel_names(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(Channel.name)))


def _rebuildable(db: Database, channel: str, public: bool, report: RebuildReport) -> bool:
    """Make sure the channel (and its noarch) exists; False for a folder that cannot be a channel."""
    try:
        if ensure_channel(db, channel, create=True, private=not public):
            report.created.append(channel)
    except TaipanError as exc:
        report.problems.append(Problem(f"{channel}/", f"{exc}; its files are left alone"))
        return False
    return True


def _record_in_place(
    db: Database,
    storage: Storage,
    results: Iterable[Result],
    report: RebuildReport,
    progress: Progress,
) -> dict[str, dict[str, set[str]]]:
    """Record every valid file where it lies, in batches; returns channel -> subdir -> recorded names."""
    recorded: dict[str, dict[str, set[str]]] = {}
    batches: dict[tuple[str, str], list[tuple[Checked, str]]] = {}

    def flush(target: tuple[str, str]) -> None:
        items = batches.pop(target, [])
        if items:
            record_files(db, storage, target[0], items, True, None)
            recorded.setdefault(target[0], {}).setdefault(target[1], set()).update(str(c.filename) for c, _ in items)
            report.recorded += len(items)

    for result in results:
        progress.advance()
        if result.checked is None:
            report.problems.append(Problem(result.job.location, result.error or "invalid"))
            continue
        target = (result.job.location.split("/", 1)[0], result.checked.subdir)
        batch = batches.setdefault(target, [])
        batch.append((result.checked, result.job.location))
        if len(batch) >= BATCH:
            flush(target)
    for target in list(batches):
        flush(target)
    return recorded


def _prune(
    db: Database,
    storage: Storage,
    channel: str,
    recorded: dict[str, set[str]],
    invalid: set[str],
    report: RebuildReport,
) -> None:
    """Drop the records no valid stored file backs, and give every subdir of the channel a new revision."""
    with db.read() as session:
        subdirs = session.execute(
            select(Subdir.id, Subdir.name).where(Subdir.channel_id == channel_id(session, channel))
        ).all()
    for subdir_id, subdir in subdirs:
        with db.write() as session:
            lock_subdir(session, subdir_id)
            rows = session.execute(
                select(PackageFile.id, PackageFile.filename, PackageFile.name, PackageFile.object_key).where(
                    PackageFile.subdir_id == subdir_id
                )
            ).all()
            keep = recorded.get(subdir, set())
            stale = [
                row
                for row in rows
                if row.filename not in keep
                and _unbacked(storage, objects.object_key(channel, subdir, row.filename, row.object_key), invalid)
            ]
            if stale:
                session.execute(delete(PackageFile).where(PackageFile.id.in_([row.id for row in stale])))
            report.removed.extend(objects.plain_key(channel, subdir, row.filename) for row in stale)
            refresh_shards(session, subdir_id, [row.name for row in stale] + _orphan_shards(session, subdir_id))


def _unbacked(storage: Storage, key: str, invalid: set[str]) -> bool:
    # Looked at again under the subdir's lock: a file uploaded since the listing keeps its record.
    return key in invalid or storage.stat(key) is None


def _orphan_shards(session: Session, subdir_id: int) -> list[str]:
    """Names with a shard but no record left (a database out of step with itself)."""
    has_rows = exists().where(PackageFile.subdir_id == subdir_id, PackageFile.name == ShardPointer.name)
    query = select(ShardPointer.name).where(ShardPointer.subdir_id == subdir_id, ~has_rows)
    return list(session.scalars(query))
