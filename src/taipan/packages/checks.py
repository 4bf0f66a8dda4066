"""The checks every package file passes before it is recorded, whichever way it came.

Kept apart from recording (packages/ingest.py) so that the worker processes of a bulk
import or rebuild, which only check, start without the database layer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from taipan.conda.archive import PackageMetadata, read_package
from taipan.conda.names import Filename, parse_filename
from taipan.conda.records import Hashes, check_index
from taipan.errors import ChecksumMismatch, InvalidPackage, TooLarge
from taipan.storage.base import Storage


@dataclass(frozen=True)
class Staged:
    """A received file sitting in storage at ``key``, with the hashes of what was received."""

    key: str
    hashes: Hashes


@dataclass(frozen=True)
class Checked:
    """A package that passed every check, ready to be recorded."""

    filename: Filename
    subdir: str
    hashes: Hashes
    metadata: PackageMetadata


def check_package(
    storage: Storage,
    staged: Staged,
    filename: str,
    *,
    max_size: int,
    max_ratio: int,
    expected_sha256: str | None = None,
    expected_subdir: str | None = None,
    data: bytes | None = None,
) -> Checked:
    """Every check an upload must pass; raises InvalidPackage, ChecksumMismatch or TooLarge.

    ``data``: the staged bytes, when the caller holds them (a small imported file): read
    from memory instead of from storage again."""
    parsed = parse_filename(filename)
    if staged.hashes.size > max_size:
        raise TooLarge(f"{filename} is {staged.hashes.size} bytes; the limit is {max_size}")
    if expected_sha256 is not None and expected_sha256.strip().lower() != staged.hashes.sha256:
        raise ChecksumMismatch(
            f"SHA-256 mismatch for {filename}: the client sent {expected_sha256.strip().lower()}, "
            f"the bytes received hash to {staged.hashes.sha256}"
        )
    with io.BytesIO(data) if data is not None else storage.open(staged.key) as f:
        metadata = read_package(f, filename, staged.hashes.size, max_ratio)
    check_index(metadata.index, parsed)
    subdir = metadata.index["subdir"]
    if expected_subdir is not None and expected_subdir != subdir:
        raise InvalidPackage(f"{filename} is built for {subdir!r}, not {expected_subdir!r}")
    return Checked(parsed, subdir, staged.hashes, metadata)
