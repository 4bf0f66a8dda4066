"""Where a package file's bytes live in storage, so that no crash can serve bytes its record does not describe.

A committed record points at one object, and those bytes are never overwritten while it
does: a forced replacement writes the new bytes to another key, the commit switches the
record to it, and only then is the old object deleted. A crash at any point leaves the
committed record pointing at the bytes it describes; what it may leave besides (the new
object, if the commit never came; the old one, if the delete never came) is referenced
by no record, so it is never served.

The first upload of a file lies at ``{channel}/{subdir}/{filename}`` (a plain conda
channel's layout); a replacement goes to a fresh ``{channel}/{subdir}/.versions/<id>/{filename}``,
and the one after it back to the plain key, and so on. ``PackageFile.object_key`` is
None for the plain key. ``taipan index rebuild`` reads both forms: of several objects of
one file it records the one the database points at, or else the newest.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterable

from sqlalchemy import select

from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir
from taipan.indexing.state import lock_subdir, log_unchanged
from taipan.storage.base import ObjectInfo, Storage

VERSIONS = ".versions"
ATTESTATION_SUFFIX = ".sigstore.json"


def plain_key(channel: str, subdir: str, filename: str) -> str:
    return f"{channel}/{subdir}/{filename}"


def object_key(channel: str, subdir: str, filename: str, stored: str | None) -> str:
    """The key of a file's bytes, from its row's ``object_key`` (None: the plain key)."""
    return stored if stored is not None else plain_key(channel, subdir, filename)


def attestation_of(key: str) -> str:
    """Where the Sigstore bundle uploaded with the object at ``key`` lives: next to it."""
    return key + ATTESTATION_SUFFIX


def next_key(channel: str, subdir: str, filename: str, current: str | None) -> str:
    """Where new bytes for a file go: never the key its committed record points at (``current``)."""
    plain = plain_key(channel, subdir, filename)
    if current is None or current != plain:
        return plain  # nothing committed points at the plain key: whatever lies there is a leftover
    return f"{channel}/{subdir}/{VERSIONS}/{uuid.uuid4().hex}/{filename}"


def stored_value(channel: str, subdir: str, filename: str, key: str) -> str | None:
    """What ``PackageFile.object_key`` holds for ``key``."""
    return None if key == plain_key(channel, subdir, filename) else key


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(channel, subdir, filename) of a package object's key, plain or versioned; None for anything else."""
    parts = key.split("/")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 5 and parts[2] == VERSIONS and len(parts[3]) == 32:
        return parts[0], parts[1], parts[4]
    return None


def pick(candidates: Iterable[ObjectInfo], referenced: str | None) -> ObjectInfo:
    """Of several objects of one file, the one its record points at, or else the newest (the plain key on a tie)."""
    found = list(candidates)
    for info in found:
        if info.key == referenced:
            return info
    return max(found, key=lambda info: (info.modified_ns, VERSIONS not in info.key))


def collect_superseded(db: Database, storage: Storage, channel: str) -> list[str]:
    """Delete the objects of the channel's recorded files that their records do not point at; return their keys.

    Such objects are what a crash mid-replace leaves (the new bytes before the commit, the
    old ones after it). Each subdir is looked at again under its lock, so an upload
    committing meanwhile keeps its object. Objects of files with no record are left alone:
    they may be a copied-in channel for ``taipan index rebuild`` to record.
    """
    by_subdir: dict[str, dict[str, list[str]]] = {}
    for info in storage.list(f"{channel}/"):
        where = parse_key(info.key)
        if where is not None and where[0] == channel:
            by_subdir.setdefault(where[1], {}).setdefault(where[2], []).append(info.key)
    deleted: list[str] = []
    for subdir, files in sorted(by_subdir.items()):
        with db.write() as session:
            subdir_id = session.scalar(
                select(Subdir.id)
                .join(Channel, Channel.id == Subdir.channel_id)
                .where(Channel.name == channel, Subdir.name == subdir)
            )
            if subdir_id is None:
                continue
            lock_subdir(session, subdir_id)
            log_unchanged(session, subdir_id)
            rows = session.execute(
                select(PackageFile.filename, PackageFile.object_key).where(
                    PackageFile.subdir_id == subdir_id, PackageFile.filename.in_(list(files))
                )
            ).all()
            for filename, stored in rows:
                current = object_key(channel, subdir, filename, stored)
                for key in files[filename]:
                    if key != current:
                        storage.delete(key)
                        storage.delete(attestation_of(key))
                        deleted.append(key)
    return deleted


CRASH_VARIABLE = "TAIPAN_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """Test-only: kill this process with SIGKILL here if ``TAIPAN_TEST_CRASH_AT`` names this point.

    Inert unless the variable is set (nothing sets it but the crash tests in
    tests/functional/test_multiprocess.py). The points, in ``record_files``:
    ``before-commit`` (new objects placed, the transaction not committed) and
    ``after-commit`` (committed, the replaced objects not yet deleted).
    """
    if os.environ.get(CRASH_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
