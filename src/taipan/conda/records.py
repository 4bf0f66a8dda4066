"""Turn a package's ``info/index.json`` into its repodata record (CEP 34/36), once, at ingest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from taipan.conda.names import Filename, check_build, check_package_name, check_subdir, check_version
from taipan.errors import InvalidPackage

# Keys conda-index drops from index.json: deprecated, or local to the build machine.
STRIPPED_KEYS = frozenset(
    {
        "arch",
        "platform",
        "has_prefix",
        "mtime",
        "ucs",
        "requires_features",
        "binstar",
        "target-triplet",
        "machine",
        "operatingsystem",
    }
)
REQUIRED = ("name", "version", "build", "build_number", "subdir")


@dataclass(frozen=True)
class Hashes:
    sha256: str
    md5: str
    size: int


def check_index(index: dict[str, Any], filename: Filename) -> None:
    """Raise InvalidPackage unless index.json is complete and agrees with the file name."""
    missing = [key for key in REQUIRED if key not in index]
    if missing:
        raise InvalidPackage(f"info/index.json lacks required field(s): {', '.join(missing)}")
    for key in ("name", "version", "build", "subdir"):
        if not isinstance(index[key], str):
            raise InvalidPackage(f"info/index.json: {key!r} must be a string")
    number = index["build_number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise InvalidPackage("info/index.json: 'build_number' must be a non-negative integer")
    check_package_name(index["name"])
    check_version(index["version"])
    check_build(index["build"])
    check_subdir(index["subdir"])
    for key in ("depends", "constrains"):
        value = index.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidPackage(f"info/index.json: {key!r} must be a list of strings")
    if "timestamp" in index and (not isinstance(index["timestamp"], int) or isinstance(index["timestamp"], bool)):
        raise InvalidPackage("info/index.json: 'timestamp' must be an integer")
    expected = f"{index['name']}-{index['version']}-{index['build']}{filename.extension}"
    if str(filename) != expected:
        raise InvalidPackage(
            f"file name {str(filename)!r} does not match the package's info/index.json, which says {expected!r}"
        )


def build_record(index: dict[str, Any], hashes: Hashes, indexed_timestamp: int) -> dict[str, Any]:
    """The repodata record: index.json less the stripped keys, plus hashes, size and indexed_timestamp."""
    record = {k: v for k, v in index.items() if k not in STRIPPED_KEYS}
    record.setdefault("depends", [])
    record["md5"] = hashes.md5
    record["sha256"] = hashes.sha256
    record["size"] = hashes.size
    record["indexed_timestamp"] = indexed_timestamp
    return record


def dump_record(record: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the exact bytes that go into repodata.json."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
