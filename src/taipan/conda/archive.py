"""Read and check a conda package archive (``.conda`` or ``.tar.bz2``) without trusting it.

Every member of the archive is looked at once, in a single streaming pass: its path
must stay inside the archive, its kind must be a file, folder or link, and the sum of
the sizes it declares is bounded (so a decompression bomb is refused before it is
inflated). The metadata members we keep are read into memory under their own bounds.
"""

from __future__ import annotations

import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from conda_package_streaming.package_streaming import stream_conda_component, stream_conda_info

from taipan.errors import InvalidPackage, TaipanError, TooLarge

MIB = 1024**2
# Bounds for the metadata members we read into memory. Real packages are far below them.
MEMBER_LIMITS = {
    "info/index.json": 1 * MIB,
    "info/about.json": 4 * MIB,
    "info/run_exports.json": 1 * MIB,
    "info/paths.json": 256 * MIB,
}
MIN_UNPACKED_LIMIT = 256 * MIB


@dataclass
class PackageMetadata:
    """What the server keeps from ``info/``: parsed JSON documents, nothing else."""

    index: dict[str, Any]
    about: dict[str, Any] = field(default_factory=dict)
    run_exports: dict[str, Any] | None = None
    file_count: int = 0


def read_package(fileobj: IO[bytes], filename: str, size: int, max_ratio: int) -> PackageMetadata:
    """Check the whole archive and return its metadata; raise InvalidPackage or TooLarge."""
    budget = _Budget(max(MIN_UNPACKED_LIMIT, size * max_ratio))
    wanted: dict[str, bytes] = {}
    try:
        for tar, member in _members(fileobj, filename):
            _check_member(member, budget)
            if member.name in MEMBER_LIMITS:
                wanted[member.name] = _read_member(tar, member)
    except TaipanError:
        raise
    except Exception as exc:  # zip, tar, bz2 and zstd readers each raise their own kinds
        raise InvalidPackage(f"the archive is corrupt or truncated ({type(exc).__name__}: {exc})") from exc
    if "info/index.json" not in wanted:
        raise InvalidPackage("the archive has no info/index.json")
    return PackageMetadata(
        index=_json_object(wanted, "info/index.json"),
        about=_json_object(wanted, "info/about.json") if "info/about.json" in wanted else {},
        run_exports=_run_exports(wanted),
        file_count=_paths_count(wanted),
    )


def _members(fileobj: IO[bytes], filename: str) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    if filename.endswith(".tar.bz2"):
        # A .tar.bz2 is one tarball: the info stream yields every member.
        yield from stream_conda_info(filename, fileobj)
        return
    zf = zipfile.ZipFile(fileobj)
    stem = filename[: -len(".conda")]
    expected = {"metadata.json", f"info-{stem}.tar.zst", f"pkg-{stem}.tar.zst"}
    names = set(zf.namelist())
    if not expected <= names:
        missing = ", ".join(sorted(expected - names))
        raise InvalidPackage(f"the .conda archive lacks {missing} (does the file name match the package?)")
    if unexpected := names - expected:
        raise InvalidPackage(f"the .conda archive holds unexpected members: {', '.join(sorted(unexpected))}")
    yield from stream_conda_info(filename, fileobj)
    yield from stream_conda_component(filename, fileobj, "pkg", zf=zf)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise TooLarge(f"the archive unpacks to more than {self.limit} bytes; refusing it as a decompression bomb")


def _check_member(member: tarfile.TarInfo, budget: _Budget) -> None:
    budget.spend(member.size + tarfile.BLOCKSIZE)
    name = member.name
    if not _inside(name):
        raise InvalidPackage(f"archive member {name!r} escapes the archive")
    if member.issym():
        target = posixpath.join(posixpath.dirname(name), member.linkname)
        if member.linkname.startswith("/") or not _inside(target):
            raise InvalidPackage(f"archive member {name!r} links outside the archive ({member.linkname!r})")
    elif member.islnk():
        if not _inside(member.linkname):
            raise InvalidPackage(f"archive member {name!r} links outside the archive ({member.linkname!r})")
    elif not (member.isfile() or member.isdir()):
        raise InvalidPackage(f"archive member {name!r} is a device, fifo or other special file")


def _inside(path: str) -> bool:
    if path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    normal = posixpath.normpath(path)
    return normal != ".." and not normal.startswith("../")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    limit = MEMBER_LIMITS[member.name]
    if member.size > limit:
        raise TooLarge(f"{member.name} is {member.size} bytes; at most {limit} are accepted")
    stream = tar.extractfile(member)
    if stream is None:
        raise InvalidPackage(f"{member.name} is not a regular file")
    return stream.read(limit + 1)


def _json_object(members: dict[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = orjson.loads(members[name])
    except orjson.JSONDecodeError as exc:
        raise InvalidPackage(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidPackage(f"{name} must hold a JSON object")
    return value


def _run_exports(members: dict[str, bytes]) -> dict[str, Any] | None:
    name = "info/run_exports.json"
    if name not in members:
        return None
    try:
        value = orjson.loads(members[name])
    except orjson.JSONDecodeError as exc:
        raise InvalidPackage(f"{name} is not valid JSON: {exc}") from exc
    if isinstance(value, list):  # the old form: a plain list means weak exports
        return {"weak": value}
    if not isinstance(value, dict):
        raise InvalidPackage(f"{name} must hold a JSON object or list")
    return value


def _paths_count(members: dict[str, bytes]) -> int:
    if "info/paths.json" not in members:
        return 0
    paths = _json_object(members, "info/paths.json").get("paths", [])
    if not isinstance(paths, list):
        raise InvalidPackage("info/paths.json: 'paths' must be a list")
    return len(paths)
