"""The one upload use-case every wire dialect calls.

A file arrives already staged in storage (streamed there by the web layer, hashing as it
went). Here it is checked through and through, and only then, inside one transaction
that holds the subdir's lock, moved to its final key, recorded, and its shard
rewritten. Any failure leaves no record or index byte changed; the staged object stays
where it is, for its owner (a staging scope, packages/staging.py) to remove. The final key
is never one a committed record points at (see taipan.packages.objects), so no crash
point serves bytes their record does not describe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.channels.service import channel_id
from taipan.conda.names import DEFAULT_LABEL, check_label
from taipan.conda.records import build_record, dump_record
from taipan.db.engine import Database
from taipan.db.models import Channel, FileLabel, PackageFile, Subdir, now_ms
from taipan.db.upsert import insert_many_or_ignore
from taipan.errors import Conflict, InvalidInput, TaipanError, TooLarge
from taipan.indexing.state import assign_labels, ensure_subdir, lock_subdir, refresh_shards
from taipan.metrics import Metrics
from taipan.packages import objects
from taipan.packages.checks import Checked, Staged, check_package
from taipan.packages.moves import Moves, Placed, Placement
from taipan.packages.staging import staging_key
from taipan.storage.base import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    channel: str
    subdir: str
    filename: str
    sha256: str
    size: int
    replaced: bool


MAX_ATTESTATION_BYTES = 4 * 1024 * 1024


def check_attestation(data: bytes) -> None:
    """An attestation is kept as sent (nobody here verifies it), but it must be a JSON object of bounded size."""
    if len(data) > MAX_ATTESTATION_BYTES:
        raise TooLarge(f"the attestation is larger than {MAX_ATTESTATION_BYTES} bytes")
    try:
        bundle = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("the attestation is not JSON: send a Sigstore bundle") from None
    if not isinstance(bundle, dict):
        raise InvalidInput("the attestation must be a JSON object: send a Sigstore bundle")


class Ingestor:
    def __init__(
        self, db: Database, storage: Storage, max_size: int, max_ratio: int, metrics: Metrics | None = None
    ) -> None:
        self.db = db
        self.storage = storage
        self.max_size = max_size
        self.max_ratio = max_ratio
        self.metrics = metrics or Metrics()

    def authorize(self, principal: Principal | None, channel: str) -> None:
        """Raise unless the caller may upload to ``channel``; web handlers call it before reading a body."""
        with self.db.read() as session:
            access.require(session, principal, channel, Role.CONTRIBUTOR)

    def ingest(
        self,
        principal: Principal | None,
        channel: str,
        filename: str,
        staged: Staged,
        *,
        expected_sha256: str | None = None,
        expected_subdir: str | None = None,
        force: bool = False,
        labels: Sequence[str] | None = None,
        attestation: bytes | None = None,
    ) -> Stored:
        """Check, store, record and index one staged file.

        Stored, the staged object has been moved into place (consumed); refused, it is left
        for the staging scope that made it, which removes it.

        ``attestation`` (a Sigstore bundle) is stored next to the file in the same step; a
        forced replacement without one drops the old file's.

        ``labels`` default to ``main`` for a new file; for a forced replacement, given
        labels replace the old ones, and none keeps them."""
        uploader = principal.username if principal else None
        attested: str | None = None
        try:
            if attestation is not None:
                check_attestation(attestation)
            for label in labels or ():
                check_label(label)
            self.authorize(principal, channel)  # again: rights may have changed while the body streamed
            checked = check_package(
                self.storage,
                staged,
                filename,
                max_size=self.max_size,
                max_ratio=self.max_ratio,
                expected_sha256=expected_sha256,
                expected_subdir=expected_subdir,
            )
            if not force:
                self._refuse_existing(channel, checked)
            items = [(checked, staged.key)]
            attestations = None
            if attestation is not None:
                attested = self._stage(attestation)
                attestations = {str(checked.filename): attested}
            with self.metrics.updating_index():
                stored = record_files(self.db, self.storage, channel, items, force, uploader, labels, attestations)
            self.metrics.uploads.labels("replaced" if stored[0].replaced else "stored").inc()
            self.metrics.upload_bytes.inc(stored[0].size)
            return stored[0]
        except TaipanError:
            self.metrics.uploads.labels("refused").inc()
            raise
        finally:
            if attested is not None:
                self.storage.delete(attested)  # moved into place unless the upload failed

    def _stage(self, data: bytes) -> str:
        key = staging_key("attestation-")
        writer = self.storage.writer(key)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return key

    def _refuse_existing(self, channel: str, checked: Checked) -> None:
        with self.db.read() as session:
            if _existing(session, channel, checked.subdir, str(checked.filename)) is not None:
                raise _exists(channel, checked)


def record_files(
    db: Database,
    storage: Storage,
    channel: str,
    items: Sequence[tuple[Checked, str | None]],
    force: bool,
    uploader: str | None,
    labels: Sequence[str] | None = None,
    attestations: Mapping[str, str] | None = None,
    held: Mapping[str, bytes] | None = None,
) -> list[Stored]:
    """Move checked files (all of one subdir) from their staged keys into place and index them.

    ``attestations`` maps file names to the staged keys of bundles to store next to them.
    ``held`` maps file names to their bytes, for files that were checked from memory and
    never staged (a small imported file: its key in ``items`` is None); they are written
    straight to their final key, which is as safe as a move there.

    New files get ``labels`` (default ``main``); a replaced file keeps its labels unless
    ``labels`` are given, which then replace them.

    One transaction under the subdir's lock: the existence check, the move, the rows and
    the shards of the touched names. Used by uploads (one file) and imports (batches).
    A file whose staged key already is one of its final keys (plain or versioned) is
    recorded where it lies, without a move (an index rebuild from storage); such a file
    is never deleted on failure. A replaced file's old object is deleted after the commit.
    New files' rows (most of an import) go in with one statement per batch.
    """
    subdirs = {checked.subdir for checked, _ in items}
    if len(subdirs) != 1:
        raise ValueError("record_files takes files of one subdir")
    subdir = subdirs.pop()
    if len({str(checked.filename) for checked, _ in items}) != len(items):
        raise ValueError("record_files takes each file once")
    moves = Moves(storage)
    try:
        with db.write() as session:
            subdir_id = ensure_subdir(session, channel_id(session, channel), subdir)
            lock_subdir(session, subdir_id)
            rows = _rows(session, subdir_id, [str(checked.filename) for checked, _ in items])
            plans = [_plan(channel, rows, checked, key, force) for checked, key in items]
            placed = moves.place_all(_placements(plans, attestations or {}, held or {}))
            recorded = [
                _record_one(moves, channel, subdir_id, rows, plan, placed.get(plan.key), uploader) for plan in plans
            ]
            new = [values for values in recorded if values is not None]
            if new:
                session.execute(insert(cast(Table, PackageFile.__table__)), new)  # Core: no ORM bookkeeping per row
            ids = _ids(session, subdir_id, rows, [str(values["filename"]) for values in new])
            results = [_stored(channel, plan, plan.filename in rows) for plan in plans]
            moved = [stored for plan, stored in zip(plans, results, strict=True) if not plan.in_place]
            _audit(session, channel, uploader, moved)
            # A new file has no labels yet: its labels go in with one statement for the batch.
            fresh = [
                {"file_id": ids[stored.filename], "label": label}
                for stored in results
                if not stored.replaced
                for label in dict.fromkeys(labels or [DEFAULT_LABEL])
            ]
            insert_many_or_ignore(session, FileLabel, fresh, ["file_id", "label"])
            for stored in results:
                if stored.replaced and labels is not None:
                    assign_labels(session, ids[stored.filename], labels, replace=True)
            refresh_shards(session, subdir_id, (c.metadata.index["name"] for c, _ in items))
            objects.crash_point("before-commit")
    except BaseException:
        moves.undo()
        raise
    objects.crash_point("after-commit")
    moves.done()
    return results


@dataclass(frozen=True)
class _Plan:
    """Where one checked file goes, decided before anything moves."""

    checked: Checked
    staged_key: str | None
    """None: the file's bytes are held in memory (``record_files``'s ``held``)."""
    key: str
    current: str | None
    """The object the file's record points at now (None: a new file)."""
    in_place: bool
    """The staged key is already a final key of the file (an index rebuild): nothing moves."""

    @property
    def filename(self) -> str:
        return str(self.checked.filename)


def _plan(channel: str, rows: dict[str, PackageFile], checked: Checked, staged_key: str | None, force: bool) -> _Plan:
    filename = str(checked.filename)
    existing = rows.get(filename)
    if existing is not None and not force:
        raise _exists(channel, checked)
    current = objects.object_key(channel, checked.subdir, filename, existing.object_key) if existing else None
    if staged_key is not None and objects.parse_key(staged_key) == (channel, checked.subdir, filename):
        return _Plan(checked, staged_key, staged_key, current, True)
    return _Plan(checked, staged_key, objects.next_key(channel, checked.subdir, filename, current), current, False)


def _record_one(
    moves: Moves,
    channel: str,
    subdir_id: int,
    rows: dict[str, PackageFile],
    plan: _Plan,
    placed: Placed | None,
    uploader: str | None,
) -> dict[str, object] | None:
    """Update the row of a file already recorded; the values of a new file's row (inserted with the batch's)."""
    checked, filename, key, current, in_place = plan.checked, plan.filename, plan.key, plan.current, plan.in_place
    if in_place:
        info = moves.storage.stat(key)
        if info is None:
            raise FileNotFoundError(key)
    else:
        assert placed is not None
        info = placed.info
        if current is not None:
            moves.retire(current)
    # CEP 47: set once when the file is first indexed. It is the stored object's write
    # time, so a rebuild from storage alone gives the very same value.
    indexed = info.modified_ns // 1_000_000
    record = build_record(checked.metadata.index, checked.hashes, indexed)
    exports = checked.metadata.run_exports
    values: dict[str, object] = {
        "name": record["name"],
        "version": record["version"],
        "build": record["build"],
        "build_number": record["build_number"],
        "sha256": checked.hashes.sha256,
        "md5": checked.hashes.md5,
        "size": checked.hashes.size,
        "record": dump_record(record),
        "run_exports": orjson.dumps(exports, option=orjson.OPT_SORT_KEYS) if exports is not None else None,
        "about": orjson.dumps(checked.metadata.about, option=orjson.OPT_SORT_KEYS),
        "indexed_timestamp": indexed,
        "object_key": objects.stored_value(channel, checked.subdir, filename, key),
    }
    existing = rows.get(filename)
    if existing is None or not in_place:  # recording in place (a rebuild) keeps who uploaded it, and when
        values["uploaded_ms"] = indexed if in_place else now_ms()
        values["uploader"] = uploader
    if placed is not None:
        values["has_attestation"] = placed.attested
    elif current != key:  # a rebuild from storage finds the bundle uploaded with the file, if any
        values["has_attestation"] = moves.storage.stat(objects.attestation_of(key)) is not None
    if existing is None:
        return {"subdir_id": subdir_id, "filename": filename, "download_count": 0, "has_attestation": False, **values}
    for column, value in values.items():
        setattr(existing, column, value)
    return None


def _placements(plans: Sequence[_Plan], attestations: Mapping[str, str], held: Mapping[str, bytes]) -> list[Placement]:
    return [
        Placement(plan.key, plan.staged_key, held.get(plan.filename), attestations.get(plan.filename))
        for plan in plans
        if not plan.in_place
    ]


def _audit(session: Session, channel: str, uploader: str | None, stored: Sequence[Stored]) -> None:
    """One audit event per file stored (not for a rebuild's recording in place), all in one statement."""
    events = [(f"{s.subdir}/{s.filename}", f"sha256={s.sha256} size={s.size} replaced={s.replaced}") for s in stored]
    audit.record_many(session, uploader or "taipan", "package_uploaded", channel, events)


def _ids(session: Session, subdir_id: int, rows: dict[str, PackageFile], new: list[str]) -> dict[str, int]:
    """File name -> row id, for the files recorded: the rows already there, and those just inserted."""
    ids = {filename: row.id for filename, row in rows.items()}
    if new:
        query = select(PackageFile.filename, PackageFile.id).where(
            PackageFile.subdir_id == subdir_id, PackageFile.filename.in_(new)
        )
        ids.update((filename, file_id) for filename, file_id in session.execute(query))
    return ids


def _stored(channel: str, plan: _Plan, replaced: bool) -> Stored:
    hashes = plan.checked.hashes
    return Stored(channel, plan.checked.subdir, plan.filename, hashes.sha256, hashes.size, replaced)


def _rows(session: Session, subdir_id: int, filenames: list[str]) -> dict[str, PackageFile]:
    """The subdir's rows of these files, by file name: one query for a whole batch."""
    query = select(PackageFile).where(PackageFile.subdir_id == subdir_id, PackageFile.filename.in_(filenames))
    return {row.filename: row for row in session.scalars(query)}


def _existing(session: Session, channel: str, subdir: str, filename: str) -> int | None:
    return session.scalar(
        select(PackageFile.id)
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(Channel.name == channel, Subdir.name == subdir, PackageFile.filename == filename)
    )


def _exists(channel: str, checked: Checked) -> Conflict:
    return Conflict(
        f"{checked.subdir}/{checked.filename} already exists in channel {channel!r}; "
        "upload with force to replace it, or skip existing files"
    )
