"""``taipan import``: every package file under a folder, into one channel."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select

from taipan.channels.service import channel_id
from taipan.conda.names import EXTENSIONS, check_channel_name, is_subdir
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir
from taipan.db.upsert import insert_or_ignore
from taipan.errors import Conflict, NotFound
from taipan.indexing.state import ensure_subdir
from taipan.packages.bulk.pool import BATCH, Job, Limits, Result, default_workers, in_flight, run_jobs
from taipan.packages.bulk.reporting import Problem, Progress, Silent
from taipan.packages.bulk.work import stage_and_check
from taipan.packages.checks import Checked
from taipan.packages.ingest import record_files
from taipan.storage.base import Storage
from taipan.storage.factory import StorageConfig

IMPORT_UPLOADER = "taipan import"
HELD_MAX = 128 * 1024
"""Files up to this size are checked from memory and carried to the main process, not staged
(less with many workers: HELD_BUDGET bounds what the results in flight can hold)."""
HELD_BUDGET = 64 * 1024 * 1024
"""Bytes of such files on their way from the workers, and again held in the main process's
batches (where reaching it records a batch early)."""


@dataclass
class ImportReport:
    created: bool = False
    found: int = 0
    imported: int = 0
    replaced: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


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

    Workers check each file as an upload is checked: a small one from its bytes read into
    memory (which go back with the result, to be written to their final key), a larger one
    from a copy they stage in the storage they open from ``storage_url``, hashing the bytes
    as they write them. Without ``storage_url`` all of it happens in this process.
    """
    progress = progress or Silent()
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
    workers = workers or default_workers()
    limits = replace(limits, hold_up_to=min(HELD_MAX, HELD_BUDGET // in_flight(workers)))
    try:
        for result in run_jobs(jobs, stage_and_check, limits, storage, storage_url, workers):
            importer.take(result)
            progress.advance()
        importer.flush_all()
    finally:
        importer.discard()  # anything still staged was not recorded: an error stopped us
    db.analyze()
    return report


def find_packages(folder: Path) -> list[Job]:
    """Package files under ``folder`` in a stable order; hidden folders and files are left out."""
    jobs: list[Job] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        subdir = here.name if is_subdir(here.name) else None
        for name in sorted(filenames):
            if name.endswith(EXTENSIONS) and not name.startswith("."):
                jobs.append(Job(str(here / name), name, subdir))
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
        self.batches: dict[str, list[_Taken]] = {}
        """subdir -> checked files and their staged keys or bytes, waiting to be recorded."""
        self.held = 0
        """Bytes of small files held in the batches."""

    def take(self, result: Result) -> None:
        if result.checked is None:
            self.report.problems.append(Problem(result.job.location, result.error or "invalid"))
            return
        target = (result.checked.subdir, result.job.filename)
        if target in self.seen or (not self.force and target in self.existing):
            if result.staged_key is not None:
                self.storage.delete(result.staged_key)
            if target in self.seen:
                self.report.problems.append(Problem(result.job.location, f"the same file as {self.seen[target]}"))
            else:
                self.report.skipped += 1
            return
        self.seen[target] = result.job.location
        batch = self.batches.setdefault(result.checked.subdir, [])
        batch.append(_Taken(result.checked, result.staged_key, result.data))
        self.held += len(result.data or b"")
        if len(batch) >= BATCH:
            self._flush(result.checked.subdir)
        while self.held > HELD_BUDGET:  # many subdirs' batches, each holding small files' bytes
            self._flush(max(self.batches, key=lambda subdir: len(self.batches[subdir])))

    def flush_all(self) -> None:
        for subdir in list(self.batches):
            self._flush(subdir)

    def discard(self) -> None:
        for batch in self.batches.values():
            self._delete(batch)
        self.batches.clear()

    def _flush(self, subdir: str) -> None:
        batch = self.batches.pop(subdir)
        self.held -= sum(len(taken.data or b"") for taken in batch)
        try:
            if not self.force:
                batch = self._drop_existing(subdir, batch)
            items = [(taken.checked, taken.staged_key) for taken in batch]
            held = {str(taken.checked.filename): taken.data for taken in batch if taken.data is not None}
            stored = record_files(self.db, self.storage, self.channel, items, self.force, IMPORT_UPLOADER, held=held)
        except Conflict as exc:
            # An upload of one of these files won the race in the last few milliseconds.
            self.report.problems.extend(Problem(f"{subdir}/{taken.checked.filename}", str(exc)) for taken in batch)
            self._delete(batch)  # the ones record_files had moved are gone already
            return
        except BaseException:
            self._delete(batch)
            raise
        self.report.imported += sum(not s.replaced for s in stored)
        self.report.replaced += sum(s.replaced for s in stored)

    def _drop_existing(self, subdir: str, batch: list[_Taken]) -> list[_Taken]:
        """Looked at again just before recording: uploads may have landed since the import began."""
        now = _existing_files(self.db, self.channel, subdir, [str(taken.checked.filename) for taken in batch])
        dropped = [taken for taken in batch if str(taken.checked.filename) in now]
        self._delete(dropped)
        self.report.skipped += len(dropped)
        return [taken for taken in batch if str(taken.checked.filename) not in now]

    def _delete(self, batch: list[_Taken]) -> None:
        for taken in batch:
            if taken.staged_key is not None:
                self.storage.delete(taken.staged_key)


@dataclass(frozen=True)
class _Taken:
    """A checked file waiting in a batch: staged at ``staged_key``, or held as ``data``."""

    checked: Checked
    staged_key: str | None
    data: bytes | None


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
            insert_or_ignore(session, Channel, values, ["name"])
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
