"""Index bookkeeping done inside the transaction that changes a subdir.

Every change to a subdir's files calls :func:`lock_subdir` first: it bumps the subdir's
revision, and the row update is the lock that serialises concurrent writers (PostgreSQL
row lock; SQLite's database write lock). Then :func:`refresh_shards` rewrites the shard
of each package name the change touched, from the rows as they now are, so the work is
proportional to that name's records and not to the subdir. It also records which
pointers changed at this revision (:func:`log_digest`), so that a process holding the
shard index of an older revision patches it (taipan.indexing.artifacts) instead of reading
every name again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack
import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from taipan.conda.shards import encode_shard, shard_digest, shard_filenames
from taipan.db.models import FileLabel, PackageFile, ShardBlob, ShardPointer, Subdir, now_ms
from taipan.db.upsert import insert_many_or_ignore, insert_many_or_update, insert_or_ignore, insert_or_update


def ensure_subdir(session: Session, channel_id: int, name: str) -> int:
    """The id of the channel's subdir ``name``, made if missing (safe against a concurrent maker)."""
    values = {
        "channel_id": channel_id,
        "name": name,
        "revision": 0,
        "epoch": secrets.token_hex(8),
        "updated_ms": now_ms(),
    }
    insert_or_ignore(session, Subdir, values, ["channel_id", "name"])
    found = session.scalar(select(Subdir.id).where(Subdir.channel_id == channel_id, Subdir.name == name))
    assert found is not None
    return found


def lock_subdir(session: Session, subdir_id: int) -> None:
    session.execute(
        update(Subdir).where(Subdir.id == subdir_id).values(revision=Subdir.revision + 1, updated_ms=now_ms())
    )


def assign_labels(session: Session, file_id: int, labels: Iterable[str], *, replace: bool) -> tuple[set[str], set[str]]:
    """Give a file ``labels`` (replacing its others when ``replace``); return (added, removed)."""
    have = set(session.scalars(select(FileLabel.label).where(FileLabel.file_id == file_id)))
    want = set(labels) if replace else have | set(labels)
    for label in want - have:
        session.add(FileLabel(file_id=file_id, label=label))
    removed = have - want
    if removed:
        session.execute(delete(FileLabel).where(FileLabel.file_id == file_id, FileLabel.label.in_(removed)))
    return want - have, removed


def refresh_shards(session: Session, subdir_id: int, names: Iterable[str]) -> None:
    """Rewrite the shard of each name in every label view it is (or was) part of.

    The rows are found through (subdir, name) and their labels by file id, then grouped
    here: asking the database for "this name in this label" let SQLite walk the label
    index, i.e. every file of the label, so an upload cost grew with the subdir.
    """
    wanted = sorted(set(names))
    if not wanted:
        log_unchanged(session, subdir_id)
        return
    session.flush()  # rows and labels added in this transaction must be seen
    # No ORDER BY in SQL: SQLite would walk the (subdir, filename) index to avoid a sort,
    # i.e. the whole subdir, instead of the (subdir, name) index. Sorted here instead.
    rows = sorted(
        session.execute(
            select(
                PackageFile.id, PackageFile.name, PackageFile.filename, PackageFile.record, PackageFile.run_exports
            ).where(PackageFile.subdir_id == subdir_id, PackageFile.name.in_(wanted))
        ).all(),
        key=lambda row: row[2],
    )
    labels: dict[int, list[str]] = {}
    if rows:
        for file_id, label in session.execute(
            select(FileLabel.file_id, FileLabel.label).where(FileLabel.file_id.in_([r[0] for r in rows]))
        ):
            labels.setdefault(file_id, []).append(label)
    views: dict[tuple[str, str], list[tuple[str, bytes, bytes | None]]] = {}
    for file_id, name, filename, record, run_exports in rows:
        for label in labels.get(file_id, ()):
            views.setdefault((label, name), []).append((filename, record, run_exports))
    pointed = session.execute(
        select(ShardPointer.label, ShardPointer.name, ShardPointer.digest).where(
            ShardPointer.subdir_id == subdir_id, ShardPointer.name.in_(wanted)
        )
    ).all()
    for label, name, _digest in pointed:
        views.setdefault((label, name), [])
    # The files each view had before: its old shard names them (a deleted file is in no row now).
    before = _shard_files(session, subdir_id, {digest for _label, _name, digest in pointed})
    digests = _write_shards(session, subdir_id, views)
    changes = {
        view: (digests[view], [filename for filename, _record, _rx in members])
        for view, members in sorted(views.items())
    }
    for label, name, digest in pointed:
        digest_now, files = changes[(label, name)]
        if digest_now == digest:
            del changes[(label, name)]  # nothing in this view changed
        else:
            changes[(label, name)] = (digest_now, sorted({*files, *before.get(digest, ())}))
    _log_changes(session, subdir_id, changes)


def _shard_files(session: Session, subdir_id: int, digests: set[bytes]) -> dict[bytes, list[str]]:
    if not digests:
        return {}
    rows = session.execute(
        select(ShardBlob.digest, ShardBlob.data).where(ShardBlob.subdir_id == subdir_id, ShardBlob.digest.in_(digests))
    )
    return {digest: shard_filenames(data) for digest, data in rows}


LOG_KEEP = 1024
"""Revisions whose pointer changes are kept; a process further behind reads the index whole."""


def log_digest(revision: int) -> bytes:
    """Where the pointer changes of a revision are kept: a shard_blobs row under this digest.

    Never the sha256 of its own data, so it can't be mistaken for a shard (shards are
    served only when their bytes hash to their name)."""
    return hashlib.sha256(b"taipan:shard-pointer-changes:%d" % revision).digest()


@dataclass(frozen=True)
class Change:
    """What one revision changed in one (label view, package name)."""

    label: str
    name: str
    digest: bytes | None
    """The name's shard now; None when the name left the label view."""
    files: tuple[str, ...] | None
    """The file names whose records may have changed in the view (before and after); None
    in a log written before Taipan kept them (the reader rebuilds what needs them)."""


def decode_log(data: bytes) -> list[Change]:
    return [
        Change(entry[0], entry[1], entry[2], tuple(entry[3]) if len(entry) > 3 else None)
        for entry in msgpack.unpackb(data)
    ]


def changes_between(session: Session, subdir_id: int, since: int, until: int) -> list[list[Change]] | None:
    """The logged changes of revisions ``since`` + 1 … ``until``, a list per revision in order.

    None when a revision in between has no log: it changed files some other way, or its
    log was pruned (more than LOG_KEEP ago), or it changed nothing through refresh_shards
    (which the log can't tell apart). A reader then rebuilds what it keeps from scratch."""
    wanted = range(since + 1, until + 1)
    if len(wanted) > LOG_KEEP or since > until:
        return None
    digests = {log_digest(r): r for r in wanted}
    found: dict[bytes, bytes] = {}
    keys = list(digests)
    for i in range(0, len(keys), 500):
        rows = session.execute(
            select(ShardBlob.digest, ShardBlob.data).where(
                ShardBlob.subdir_id == subdir_id, ShardBlob.digest.in_(keys[i : i + 500])
            )
        )
        found.update({digest: data for digest, data in rows})
    if len(found) != len(digests):
        return None
    return [decode_log(found[digest]) for digest in keys]


def log_unchanged(session: Session, subdir_id: int) -> None:
    """Log that the current revision (taken with lock_subdir) changed no record: readers patch
    through it instead of rebuilding what they keep."""
    _log_changes(session, subdir_id, {})


def _log_changes(
    session: Session, subdir_id: int, changes: dict[tuple[str, str], tuple[bytes | None, list[str]]]
) -> None:
    revision = session.scalar(select(Subdir.revision).where(Subdir.id == subdir_id))
    assert revision is not None
    digest = log_digest(revision)
    where = (ShardBlob.subdir_id == subdir_id, ShardBlob.digest == digest)
    earlier = session.scalar(select(ShardBlob.data).where(*where))
    if earlier is not None:  # a second refresh in the same transaction: one log per revision
        merged: dict[tuple[str, str], tuple[bytes | None, list[str]]] = {}
        for change in decode_log(earlier):
            merged[(change.label, change.name)] = (change.digest, list(change.files or ()))
        for key, (d, files) in changes.items():
            merged[key] = (d, sorted({*files, *merged.get(key, (None, []))[1]}))
        changes = merged
    entries = [[label, name, d, files] for (label, name), (d, files) in sorted(changes.items())]
    data = msgpack.packb(entries, use_bin_type=True)
    blob = {"subdir_id": subdir_id, "digest": digest, "data": data, "created_ms": now_ms()}
    insert_or_update(session, ShardBlob, blob, ["subdir_id", "digest"], ["data"])
    if revision > LOG_KEEP:
        session.execute(
            delete(ShardBlob).where(
                ShardBlob.subdir_id == subdir_id, ShardBlob.digest == log_digest(revision - LOG_KEEP)
            )
        )


def _write_shards(
    session: Session, subdir_id: int, views: dict[tuple[str, str], list[tuple[str, bytes, bytes | None]]]
) -> dict[tuple[str, str], bytes | None]:
    """Point each (label, name) at the shard of its rows, all in two statements; return the digests
    (None: no shard any more, the pointer is gone)."""
    digests: dict[tuple[str, str], bytes | None] = {}
    blobs: dict[bytes, dict[str, object]] = {}
    pointers = []
    created = now_ms()
    for (label, name), rows in sorted(views.items()):
        if not rows:
            session.execute(
                delete(ShardPointer).where(
                    ShardPointer.subdir_id == subdir_id, ShardPointer.label == label, ShardPointer.name == name
                )
            )
            digests[(label, name)] = None
            continue
        data = encode_shard((fn, rec, orjson.loads(rx) if rx else None) for fn, rec, rx in rows)
        digest = digests[(label, name)] = shard_digest(data)
        blobs[digest] = {"subdir_id": subdir_id, "digest": digest, "data": data, "created_ms": created}
        pointers.append({"subdir_id": subdir_id, "label": label, "name": name, "digest": digest})
    insert_many_or_ignore(session, ShardBlob, list(blobs.values()), ["subdir_id", "digest"])
    insert_many_or_update(session, ShardPointer, pointers, ["subdir_id", "label", "name"], ["digest"])
    return digests
