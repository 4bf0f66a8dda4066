"""What the worker processes of a bulk import or rebuild do with each file: check it.

Imported by the worker processes (the forkserver preloads this module), so it imports
only what checking needs, not the database layer: a worker is ready in about half the time.
"""

from __future__ import annotations

import os

from taipan.conda.hashing import StreamHasher
from taipan.errors import TaipanError, TooLarge
from taipan.packages.bulk.pool import CHUNK, Job, Limits, Result, message
from taipan.packages.checks import Staged, check_package
from taipan.packages.staging import staging_key
from taipan.storage.base import Storage


def stage_and_check(job: Job, limits: Limits, storage: Storage) -> Result:
    """Check a local file as an upload is checked, from the very bytes that will be stored.

    A small file is read into memory once, hashed and checked there, and its bytes go back
    with the result (the main process writes them to their final key: on an object store
    that is one request per file instead of a staging PUT and a move). A larger one is
    copied into a staging key, hashing as it goes, and checked from the staged copy."""
    try:
        size = os.stat(job.location).st_size
        if size > limits.max_size:  # refuse before copying a huge file
            raise TooLarge(f"{job.filename} is larger than the limit of {limits.max_size} bytes")
        if size <= limits.hold_up_to:
            staged, held = _read(job.location, size)
        else:
            staged, held = _stage(job.location, storage), None
    except (TaipanError, OSError) as exc:
        return Result(job, None, message(exc))
    try:
        checked = check_package(
            storage,
            staged,
            job.filename,
            max_size=limits.max_size,
            max_ratio=limits.max_ratio,
            expected_subdir=job.subdir,
            data=held,
        )
    except (TaipanError, OSError) as exc:
        if held is None:
            storage.delete(staged.key)
        return Result(job, None, message(exc))
    if held is not None:
        return Result(job, checked, None, data=held)
    return Result(job, checked, None, staged.key)


def _read(path: str, size: int) -> tuple[Staged, bytes]:
    """A small file's bytes and their hashes (as a staged file's, with no key: it is nowhere in storage)."""
    with open(path, "rb") as src:
        data = src.read(size + 1)
    if len(data) > size:
        raise OSError(f"{path} grew while it was read")
    hasher = StreamHasher()
    hasher.update(data)
    return Staged("", hasher.result()), data


def _stage(path: str, storage: Storage) -> Staged:
    """Copy a file into staging, hashing it."""
    key = staging_key("import-")
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


def check_stored(job: Job, limits: Limits, storage: Storage) -> Result:
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
        return Result(job, None, message(exc))
    return Result(job, checked, None)
