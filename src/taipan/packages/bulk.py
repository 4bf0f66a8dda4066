"""Many packages at once: import a folder tree, or rebuild the records from storage alone.

Both spend most of their time copying, hashing and checking archives, so that part
runs in worker processes, one per core (an import's workers also stage each file into
storage, hashing the very bytes they write). The main process keeps what must be
serial: recording the checked files through :func:`record_files` in batches of one
subdir. A batch is one transaction under the
subdir's lock (one revision bump, one shard rewrite per touched name), with the same
guarantee as an upload: a file is in place exactly when its record is committed.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from taipan.channels.service import channel_id
from taipan.conda.hashing import StreamHasher
from taipan.conda.names import EXTENSIONS, check_channel_name, is_subdir
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, ShardPointer, Subdir
from taipan.db.upsert import insert_or_ignore
from taipan.errors import Conflict, NotFound, TaipanError, TooLarge
from taipan.indexing.state import ensure_subdir, lock_subdir, refresh_shards
from taipan.packages import objects
from taipan.packages.ingest import ATTESTATION_SUFFIX, Checked, Staged, check_package, record_files, storage_key
from taipan.storage.base import STAGING_PREFIX, ObjectInfo, Storage
from taipan.storage.factory import StorageConfig, open_storage

BATCH = 256
"""Files recorded per transaction: large enough to amortise a commit, small enough to hold a lock briefly."""
CHUNK = 4 * 1024 * 1024
CHUNK_JOBS = 32
"""Files a worker checks per round trip (fewer when there are few files)."""
IN_FLIGHT = 4
"""Chunks per worker queued ahead of the results taken so far."""
IMPORT_UPLOADER = "taipan import"


class Progress(Protocol):
    """Told how many files there are, then about each one handled (checked, skipped or refused)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Limits:
    max_size: int
    max_ratio: int


@dataclass(frozen=True)
class Problem:
    """A file that was left alone, and why (``str`` of a domain or OS error)."""

    location: str
    message: str


@dataclass
class ImportReport:
    created: bool = False
    found: int = 0
    imported: int = 0
    replaced: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class RebuildReport:
    channels: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    recorded: int = 0
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# --- the parallel part: copy, hash and check, in worker processes -------------------


@dataclass(frozen=True)
class _Job:
    location: str
    """A local path (import) or a storage key (rebuild)."""
    filename: str
    subdir: str | None
    """The subdir the file's folder names, which its index.json must agree with."""


@dataclass(frozen=True)
class _Result:
    job: _Job
    checked: Checked | None
    error: str | None
    staged_key: str | None = None
    """Import: where the worker staged the bytes it hashed and checked (None when refused)."""


def _stage_and_check(job: _Job, limits: Limits, storage: Storage) -> _Result:
    """Copy a local file into a staging key, hashing as it goes, then check the staged bytes as an upload."""
    try:
        if os.stat(job.location).st_size > limits.max_size:  # refuse before copying a huge file
            raise TooLarge(f"{job.filename} is larger than the limit of {limits.max_size} bytes")
        staged = _stage(job.location, storage)
    except (TaipanError, OSError) as exc:
        return _Result(job, None, _message(exc))
    try:
        checked = check_package(
            storage,
            staged,
            job.filename,
            max_size=limits.max_size,
            max_ratio=limits.max_ratio,
            expected_subdir=job.subdir,
        )
    except (TaipanError, OSError) as exc:
        storage.delete(staged.key)
        return _Result(job, None, _message(exc))
    return _Result(job, checked, None, staged.key)


def _stage(path: str, storage: Storage) -> Staged:
    key = f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    writer = storage.writer(key)
    hasher = StreamHasher()
    try:
        with open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return Staged(key, hasher.result())


def _check_stored(job: _Job, limits: Limits, storage: Storage) -> _Result:
    """Hash a stored package file where it lies and check it as an upload."""
    try:
        hasher = StreamHasher()
        with storage.open(job.location) as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
        checked = check_package(
            storage,
            Staged(job.location, hasher.result()),
            job.filename,
            max_size=limits.max_size,
            max_ratio=limits.max_ratio,
            expected_subdir=job.subdir,
        )
    except (TaipanError, OSError) as exc:
        return _Result(job, None, _message(exc))
    return _Result(job, checked, None)


def _message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


Work = Callable[[_Job, Limits, Storage], _Result]


def _in_worker(job: _Job, work: Work, limits: Limits, storage_url: StorageConfig | str) -> _Result:
    return work(job, limits, _worker_storage(storage_url))


@functools.cache
def _worker_storage(url: StorageConfig | str) -> Storage:
    """One storage adapter per worker process, made on its first job."""
    return open_storage(url)


def _results(
    jobs: list[_Job],
    work: Work,
    limits: Limits,
    storage: Storage,
    storage_url: StorageConfig | str | None,
    workers: int,
) -> Iterator[_Result]:
    """``work`` done on every job, results in order: in worker processes when they can open the storage."""
    if storage_url is None:
        return (work(job, limits, storage) for job in jobs)
    in_worker = functools.partial(_in_worker, work=work, limits=limits, storage_url=storage_url)
    return _in_processes(jobs, in_worker, workers)


def _in_processes(jobs: list[_Job], work: Callable[[_Job], _Result], workers: int) -> Iterator[_Result]:
    """``work`` done on every job in worker processes, results in the order of ``jobs``.

    Only a few chunks per worker are in flight at once, so memory stays flat however
    many files there are, even when recording is slower than checking.
    """
    if not jobs:
        return
    workers = max(1, min(workers, len(jobs)))
    size = max(1, min(CHUNK_JOBS, len(jobs) // (workers * 8)))
    chunks = iter([jobs[i : i + size] for i in range(0, len(jobs), size)])
    run = functools.partial(_work_chunk, work=work)
    pool = ProcessPoolExecutor(workers, mp_context=_process_context())
    try:
        pending = deque(pool.submit(run, chunk) for chunk in itertools.islice(chunks, workers * IN_FLIGHT))
        while pending:
            results = pending.popleft().result()
            for chunk in itertools.islice(chunks, 1):
                pending.append(pool.submit(run, chunk))
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _work_chunk(jobs: list[_Job], work: Callable[[_Job], _Result]) -> list[_Result]:
    return [work(job) for job in jobs]


def _process_context() -> multiprocessing.context.BaseContext:
    # forkserver, not fork: this process has threads (a progress display, database pools),
    # and forking those can deadlock. The server preloads this module, so workers start fast.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def default_workers() -> int:
    # One per core, although this process needs some CPU too: measured on 2 cores, 2
    # workers beat 1 by about 10% on an idle machine (and lose when other work competes).
    return os.cpu_count() or 1


# --- import --------------------------------------------------------------------------


def import_folder(
    db: Database,
    storage: Storage,
    folder: Path,
    channel: str,
    limits: Limits,
    *,
    force: bool = False,
    create: bool = False,
    private: bool = False,
    storage_url: StorageConfig | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every ``*.conda`` / ``*.tar.bz2`` under ``folder`` into ``channel``.

    A file in a folder named after a subdir (a conda channel's layout) must be built for
    that subdir; anywhere else its index.json says where it goes. Files already in the
    channel are skipped (before any hashing, when the folder names the subdir) unless
    ``force``; invalid files are reported in the result and skipped. Raises NotFound for
    a missing channel unless ``create`` (then it is made without an owner, ``private`` or not).

    Workers copy each file into a staging key of the storage they open from
    ``storage_url``, hashing the bytes as they write them, and check the staged copy as
    an upload is checked; without ``storage_url`` all of it happens in this process.
    """
    progress = progress or _Silent()
    created = ensure_channel(db, channel, create=create, private=private)
    jobs = find_packages(folder)
    report = ImportReport(created=created, found=len(jobs))
    progress.start(len(jobs))
    existing = _existing(db, channel)
    if not force:
        todo = [j for j in jobs if j.subdir is None or (j.subdir, j.filename) not in existing]
        report.skipped = len(jobs) - len(todo)
        progress.advance(report.skipped)
        jobs = todo
    importer = _Importer(db, storage, channel, force, report, existing)
    try:
        for result in _results(jobs, _stage_and_check, limits, storage, storage_url, workers or default_workers()):
            importer.take(result)
            progress.advance()
        importer.flush_all()
    finally:
        importer.discard()  # anything still staged was not recorded: an error stopped us
    db.analyze()
    return report


def find_packages(folder: Path) -> list[_Job]:
    """Package files under ``folder`` in a stable order; hidden folders and files are left out."""
    jobs: list[_Job] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        subdir = here.name if is_subdir(here.name) else None
        for name in sorted(filenames):
            if name.endswith(EXTENSIONS) and not name.startswith("."):
                jobs.append(_Job(str(here / name), name, subdir))
    return jobs


class _Importer:
    """Collects checked files into per-subdir batches and stores each batch in one go."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        channel: str,
        force: bool,
        report: ImportReport,
        existing: set[tuple[str, str]],
    ) -> None:
        self.db = db
        self.storage = storage
        self.channel = channel
        self.force = force
        self.report = report
        self.existing = existing
        self.seen: dict[tuple[str, str], str] = {}
        self.batches: dict[str, list[tuple[Checked, str]]] = {}
        """subdir -> checked files and their staged keys, waiting to be recorded."""

    def take(self, result: _Result) -> None:
        if result.checked is None or result.staged_key is None:
            self.report.problems.append(Problem(result.job.location, result.error or "invalid"))
            return
        target = (result.checked.subdir, result.job.filename)
        if target in self.seen or (not self.force and target in self.existing):
            self.storage.delete(result.staged_key)
            if target in self.seen:
                self.report.problems.append(Problem(result.job.location, f"the same file as {self.seen[target]}"))
            else:
                self.report.skipped += 1
            return
        self.seen[target] = result.job.location
        batch = self.batches.setdefault(result.checked.subdir, [])
        batch.append((result.checked, result.staged_key))
        if len(batch) >= BATCH:
            self._flush(result.checked.subdir)

    def flush_all(self) -> None:
        for subdir in list(self.batches):
            self._flush(subdir)

    def discard(self) -> None:
        for batch in self.batches.values():
            self._delete(batch)
        self.batches.clear()

    def _flush(self, subdir: str) -> None:
        batch = self.batches.pop(subdir)
        try:
            if not self.force:
                batch = self._drop_existing(subdir, batch)
            stored = record_files(self.db, self.storage, self.channel, batch, self.force, IMPORT_UPLOADER)
        except Conflict as exc:
            # An upload of one of these files won the race in the last few milliseconds.
            self.report.problems.extend(Problem(f"{subdir}/{c.filename}", str(exc)) for c, _ in batch)
            self._delete(batch)  # the ones record_files had moved are gone already
            return
        except BaseException:
            self._delete(batch)
            raise
        self.report.imported += sum(not s.replaced for s in stored)
        self.report.replaced += sum(s.replaced for s in stored)

    def _drop_existing(self, subdir: str, batch: list[tuple[Checked, str]]) -> list[tuple[Checked, str]]:
        """Looked at again just before recording: uploads may have landed since the import began."""
        now = _existing_files(self.db, self.channel, subdir, [str(c.filename) for c, _ in batch])
        dropped = [item for item in batch if str(item[0].filename) in now]
        self._delete(dropped)
        self.report.skipped += len(dropped)
        return [item for item in batch if str(item[0].filename) not in now]

    def _delete(self, batch: list[tuple[Checked, str]]) -> None:
        for _, key in batch:
            self.storage.delete(key)


def ensure_channel(db: Database, channel: str, *, create: bool, private: bool) -> bool:
    """Make sure the channel and its noarch exist; True if the channel was made now.

    Local tools have no caller to make the owner: a channel made here has none, and is
    managed by admins (who can hand it to a user).
    """
    check_channel_name(channel)
    with db.write() as session:
        found = session.scalar(select(Channel.id).where(Channel.name == channel))
        if found is None and not create:
            raise NotFound(f"channel {channel!r} does not exist")
        if found is None:
            values = {"name": channel, "description": "", "private": private}
            insert_or_ignore(session, Channel.__table__, values, ["name"])  # type: ignore[arg-type]
        # noarch always exists: clients probe it to decide whether this is a channel at all.
        ensure_subdir(session, channel_id(session, channel), "noarch")
    return found is None


def _existing(db: Database, channel: str) -> set[tuple[str, str]]:
    """(subdir, file name) of every file in the channel."""
    with db.read() as session:
        rows = session.execute(
            select(Subdir.name, PackageFile.filename)
            .join(PackageFile, PackageFile.subdir_id == Subdir.id)
            .where(Subdir.channel_id == channel_id(session, channel))
        ).all()
    return {(subdir, filename) for subdir, filename in rows}


def _existing_files(db: Database, channel: str, subdir: str, filenames: list[str]) -> set[str]:
    """Which of ``filenames`` the channel's subdir holds."""
    with db.read() as session:
        found = session.scalars(
            select(PackageFile.filename)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(
                Subdir.channel_id == channel_id(session, channel),
                Subdir.name == subdir,
                PackageFile.filename.in_(filenames),
            )
        )
        return set(found)


# --- rebuild -------------------------------------------------------------------------


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
    progress = progress or _Silent()
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
        _Job(key, filename, subdir)
        for ch in report.channels
        for subdir, filenames in sorted(found.get(ch, {}).items())
        for filename, key in sorted(filenames.items())
    ]
    progress.start(len(jobs))
    results = _results(jobs, _check_stored, limits, storage, storage_url, workers or default_workers())
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
    results: Iterable[_Result],
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
            report.removed.extend(storage_key(channel, subdir, row.filename) for row in stale)
            refresh_shards(session, subdir_id, [row.name for row in stale] + _orphan_shards(session, subdir_id))


def _unbacked(storage: Storage, key: str, invalid: set[str]) -> bool:
    # Looked at again under the subdir's lock: a file uploaded since the listing keeps its record.
    return key in invalid or storage.stat(key) is None


def _orphan_shards(session: Session, subdir_id: int) -> list[str]:
    """Names with a shard but no record left (a database out of step with itself)."""
    has_rows = exists().where(PackageFile.subdir_id == subdir_id, PackageFile.name == ShardPointer.name)
    query = select(ShardPointer.name).where(ShardPointer.subdir_id == subdir_id, ~has_rows)
    return list(session.scalars(query))
