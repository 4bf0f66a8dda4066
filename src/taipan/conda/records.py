"""Turn a package's ``info/index.json`` into its repodata record (CEP 34/36), once, at ingest."""

from __future__ import annotations

import re
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
# Keys a package must not set: where the file is and what it hashes to are the server's to
# say (conda downloads from a record's ``url`` and names the file by ``fn``), and the rest
# are conda's fields for an installed or cached package, which a client reading repodata
# may take as such. They are dropped, not refused: nothing a real build writes is among
# them, and dropping keeps an old package that carried one usable. md5, sha256, size and
# indexed_timestamp are then set from the bytes received.
SERVER_KEYS = frozenset(
    {
        "url",
        "fn",
        "channel",
        "schannel",
        "md5",
        "sha256",
        "size",
        "indexed_timestamp",
        "auth",
        "link",
        "files",
        "paths_data",
        "requested_spec",
        "package_tarball_full_path",
        "extracted_package_dir",
        "metadata_signature_status",
    }
)
REQUIRED = ("name", "version", "build", "build_number", "subdir")
# The database keeps build_number in a 32-bit column; real ones are small.
MAX_BUILD_NUMBER = 2**31 - 1
# Optional keys that conda clients parse strictly. A bad value would not just spoil its own
# record: rattler (pixi, rattler-build) refuses the whole repodata.json that holds it.
OPTIONAL_STRINGS = ("license", "license_family", "features", "python_site_packages_path")
STRING_LISTS = ("depends", "constrains", "flags")
NOARCH_WORDS = ("python", "generic", "")
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
# rattler reads a timestamp up to this as seconds and a larger one as milliseconds, and
# refuses any date after 9999-12-30.
SECONDS_BELOW = 253_402_300_800
MAX_SECONDS = 253_402_207_200
MAX_MS = MAX_SECONDS * 1000


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
    if not _count(number) or number > MAX_BUILD_NUMBER:
        raise InvalidPackage(
            f"info/index.json: 'build_number' must be a non-negative integer, at most {MAX_BUILD_NUMBER}"
        )
    check_package_name(index["name"])
    check_version(index["version"])
    check_build(index["build"])
    check_subdir(index["subdir"])
    _check_optional(index)
    expected = f"{index['name']}-{index['version']}-{index['build']}{filename.extension}"
    if str(filename) != expected:
        raise InvalidPackage(
            f"file name {str(filename)!r} does not match the package's info/index.json, which says {expected!r}"
        )


def _check_optional(index: dict[str, Any]) -> None:
    for key in OPTIONAL_STRINGS:
        if index.get(key) is not None and not isinstance(index[key], str):
            _refuse(key, "must be a string")
    for key in STRING_LISTS:
        if key in index and not _strings(index[key]):
            _refuse(key, "must be a list of strings")
    noarch = index.get("noarch")
    if noarch is not None and not isinstance(noarch, bool) and noarch not in NOARCH_WORDS:
        _refuse("noarch", "must be 'python', 'generic' or a boolean")
    if "track_features" in index and not (
        isinstance(index["track_features"], str) or _strings(index["track_features"])
    ):
        _refuse("track_features", "must be a string or a list of strings")
    extra = index.get("extra_depends", {})
    if not isinstance(extra, dict) or not all(_strings(v) for v in extra.values()):
        _refuse("extra_depends", "must map names to lists of strings")
    purls = index.get("purls")
    if purls is not None and not (_strings(purls) and all(p.startswith("pkg:") for p in purls)):
        _refuse("purls", "must be a list of package URLs (pkg:...)")
    if index.get("run_exports") is not None and not is_run_exports(index["run_exports"]):
        _refuse("run_exports", "must map kinds to lists of strings")
    if index.get("legacy_bz2_md5") is not None and not MD5_RE.match(str(index["legacy_bz2_md5"])):
        _refuse("legacy_bz2_md5", "must be an MD5 digest in hex")
    if index.get("legacy_bz2_size") is not None and not _count(index["legacy_bz2_size"]):
        _refuse("legacy_bz2_size", "must be a non-negative integer")
    timestamp = index.get("timestamp")
    if timestamp is not None and not (_count(timestamp) and _readable_time(timestamp)):
        _refuse("timestamp", "must be an integer count of milliseconds since 1970, before the year 10000")


def is_run_exports(value: Any) -> bool:
    """The shape clients accept: an object whose values are lists of strings."""
    return isinstance(value, dict) and all(_strings(v) for v in value.values())


def _refuse(key: str, problem: str) -> None:
    raise InvalidPackage(f"info/index.json: {key!r} {problem}")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _readable_time(value: int) -> bool:
    return value <= MAX_SECONDS if value < SECONDS_BELOW else value <= MAX_MS


def build_record(index: dict[str, Any], hashes: Hashes, indexed_timestamp: int) -> dict[str, Any]:
    """The repodata record: index.json less the stripped and server keys, plus hashes, size and indexed_timestamp.

    Every other key of index.json is kept as it is (CEP 17's ``python_site_packages_path``,
    ``purls``, keys newer than this server)."""
    record = {k: v for k, v in index.items() if k not in STRIPPED_KEYS and k not in SERVER_KEYS}
    record.setdefault("depends", [])
    record["md5"] = hashes.md5
    record["sha256"] = hashes.sha256
    record["size"] = hashes.size
    record["indexed_timestamp"] = indexed_timestamp
    return record


def dump_record(record: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the exact bytes that go into repodata.json."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
