"""Read and check a conda package archive (``.conda`` or ``.tar.bz2``) without trusting it.

Every member of the archive is looked at once, in a single streaming pass: its path
must stay inside the archive, its kind must be a file, folder or link, and the bytes it
unpacks to are bounded (a member declaring too much is refused before it is inflated,
and every decompressed byte is counted, so nothing the tar reader consumes on its own,
such as pax headers, escapes the bound). The metadata members we keep are read into
memory under their own bounds, and nothing else of a member is kept once the next one
is read: memory stays bounded by the limits below whatever the archive holds.

Every bound is here, at the top. A member's parsed JSON may take ~25 times its size in
memory (``[[],[],...]``), so the metadata bounds are kept far below the archive budget:
real ``index.json``, ``about.json`` and ``run_exports.json`` are a few KiB (about.json,
the largest, lists the build environment: tens of KiB at most). ``info/paths.json`` is
not read at all (it is the client's install manifest, and a large package's is tens of
MB): the file count comes from the members themselves.

In a ``.conda``, metadata is read from the info component only, and the components must
split as conda-package-handling splits them: everything under ``info/`` in the info
component, nothing under ``info/`` in the pkg component. Both are extracted into one
folder on install, so an ``info/index.json`` in the pkg component would replace the one
this server read.
"""

from __future__ import annotations

import bz2
import functools
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

import orjson
import zstandard
from conda_package_streaming.package_streaming import tar_generator

from taipan.conda.records import is_run_exports
from taipan.errors import InvalidPackage, TaipanError, TooLarge

MIB = 1024**2
# Bounds for the metadata members we read into memory and parse. Real packages are far below them.
MEMBER_LIMITS = {
    "info/index.json": 1 * MIB,
    "info/about.json": 1 * MIB,
    "info/run_exports.json": 1 * MIB,
}
# The bytes an archive may unpack to: its size times the configured ratio, at least this.
# Only counted, never held: unpacking is streamed.
MIN_UNPACKED_LIMIT = 256 * MIB
# tarfile reads a pax header or GNU long name whole into memory before yielding the member
# it describes; real ones are a few KiB.
MAX_EXTENDED_HEADER = 1 * MIB
EXTENDED_HEADER_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)


@dataclass
class PackageMetadata:
    """What the server keeps from ``info/``: parsed JSON documents, nothing else."""

    index: dict[str, Any]
    about: dict[str, Any] = field(default_factory=dict)
    run_exports: dict[str, Any] | None = None
    file_count: int = 0
    """Files and links the package installs (what its paths.json lists), counted from its members."""


def read_package(fileobj: IO[bytes], filename: str, size: int, max_ratio: int) -> PackageMetadata:
    """Check the whole archive and return its metadata; raise InvalidPackage or TooLarge."""
    budget = _Budget(max(MIN_UNPACKED_LIMIT, size * max_ratio))
    paths = _Paths()
    wanted: dict[str, bytes] = {}
    file_count = 0
    try:
        for tar, member, component in _members(fileobj, filename, budget):
            name = _check_member(member, budget, paths)
            in_info = _is_info(name)
            _check_component(member, component, in_info)
            if not in_info and not member.isdir():
                file_count += 1
            if name in MEMBER_LIMITS:
                if name in wanted:
                    raise InvalidPackage(f"the archive holds {name} twice")
                wanted[name] = _read_member(tar, member, name)
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
        file_count=file_count,
    )


Member = tuple[tarfile.TarFile, tarfile.TarInfo, str | None]
"""A tar member, the tar reader it came from, and the .conda component holding it (None: a .tar.bz2)."""


def _is_info(name: str) -> bool:
    # conda-package-handling's own test for what goes into the info component.
    return name == "info" or name.startswith("info/")


def _check_component(member: tarfile.TarInfo, component: str | None, in_info: bool) -> None:
    if component == "pkg" and in_info:
        raise InvalidPackage(
            f"the pkg component of the .conda holds {member.name!r}: metadata belongs in the info "
            "component only, and an installer would let this one replace it"
        )
    if component == "info" and not in_info:
        raise InvalidPackage(f"the info component of the .conda holds {member.name!r}, which is not under info/")


def _members(fileobj: IO[bytes], filename: str, budget: _Budget) -> Iterator[Member]:
    if filename.endswith(".tar.bz2"):
        # A .tar.bz2 is one tarball holding every member.
        with bz2.open(fileobj, "rb") as tar_stream:
            for tar, member in _tar_members(tar_stream, budget):
                yield tar, member, None
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
    # The zip layer may itself be compressed (conda writes it stored): count what it gives
    # zstd too, or a deflated stream of skippable zstd frames could spin without a byte out.
    component_budget = _Budget(budget.limit)
    for component in ("info", "pkg"):
        with zf.open(f"{component}-{stem}.tar.zst") as raw:
            zstd_stream = zstandard.ZstdDecompressor().stream_reader(
                _counted(raw, component_budget), read_across_frames=True, closefd=False
            )
            with zstd_stream:
                for tar, member in _tar_members(zstd_stream, budget):
                    yield tar, member, component


def _tar_members(stream: IO[bytes], budget: _Budget) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    open_tar = functools.partial(tarfile.open, tarinfo=_CheckedTarInfo)
    for tar, member in tar_generator(_counted(stream, budget), tarfile_open=open_tar):
        yield tar, member
        # tarfile keeps every member it has read; a tarball of millions of empty members
        # (a few KiB compressed) would pile them up. A stream needs only the current one.
        tar.members.clear()


class _CheckedTarInfo(tarfile.TarInfo):
    """Refuses an oversized extended header before tarfile reads it whole into memory."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in EXTENDED_HEADER_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise TooLarge(
                f"an extended tar header in the archive is {self.size} bytes; "
                f"at most {MAX_EXTENDED_HEADER} are accepted"
            )
        member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]  # a private tarfile method, untyped in typeshed
        return member


def _counted(stream: IO[bytes], budget: _Budget) -> IO[bytes]:
    # Readers of a stream (tarfile, zstandard) call only ``read``.
    return cast(IO[bytes], _Counted(stream, budget))


class _Counted:
    """A decompressed stream whose every byte is charged to a budget."""

    def __init__(self, stream: IO[bytes], budget: _Budget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._budget.spend(len(data))
        return data


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise self._error()

    def refuse_beyond(self, amount: int) -> None:
        if amount > self.left:
            raise self._error()

    def _error(self) -> TooLarge:
        return TooLarge(f"the archive unpacks to more than {self.limit} bytes; refusing it as a decompression bomb")


def _check_member(member: tarfile.TarInfo, budget: _Budget, paths: _Paths) -> str:
    """Raise unless the member is safe to extract; return its path as an extractor writes it."""
    budget.refuse_beyond(member.size)  # before the member's bytes are inflated
    name = paths.check(member)
    if not (member.issym() or member.islnk() or member.isfile() or member.isdir()):
        raise InvalidPackage(f"archive member {member.name!r} is a device, fifo or other special file")
    return name


class _Paths:
    """Where members land, followed as an extractor would follow them, symlinks included.

    Checking paths lexically is not enough: with ``a -> .`` and ``b -> a/..`` each link
    stays inside on paper, yet ``b`` points out of the install prefix. So member paths
    may not use ``..`` or pass through a symlink of the archive, and a link target may
    not step ``..`` out of a symlink, even one the archive only defines later.
    """

    def __init__(self) -> None:
        self.symlinks: set[str] = set()
        self.stepped_out: set[str] = set()  # folders some link target leaves with ".."

    def check(self, member: tarfile.TarInfo) -> str:
        """Raise unless the member lands inside; return where it lands (``./info//a`` is ``info/a``)."""
        parts = self._plain(member.name, "escapes the archive", member.name)
        if member.issym():
            self._check_symlink(member, parts)
        elif member.islnk():
            self._plain(member.linkname, f"links outside the archive ({member.linkname!r})", member.name)
        return "/".join(parts)

    def _plain(self, path: str, problem: str, name: str) -> list[str]:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        through = next((p for p in self._prefixes(parts[:-1]) if p in self.symlinks), None)
        if path.startswith("/") or "\\" in path or "\x00" in path or ".." in parts or through is not None:
            extra = f" through the symlink {through!r}" if through is not None else ""
            raise InvalidPackage(f"archive member {name!r} {problem}{extra}")
        return parts

    def _check_symlink(self, member: tarfile.TarInfo, parts: list[str]) -> None:
        key = "/".join(parts)
        target = member.linkname
        stack = parts[:-1]
        bad = target.startswith("/") or "\\" in target or "\x00" in target or key in self.stepped_out
        for piece in target.split("/"):
            if bad or piece in ("", "."):
                continue
            if piece != "..":
                stack.append(piece)
                continue
            here = "/".join(stack)
            bad = not stack or here in self.symlinks
            self.stepped_out.add(here)
            stack = stack[:-1]
        if bad:
            raise InvalidPackage(f"archive member {member.name!r} links outside the archive ({target!r})")
        self.symlinks.add(key)

    def _prefixes(self, parts: list[str]) -> Iterator[str]:
        if self.symlinks:
            for i in range(1, len(parts) + 1):
                yield "/".join(parts[:i])


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> bytes:
    limit = MEMBER_LIMITS[name]
    if member.size > limit:
        raise TooLarge(f"{name} is {member.size} bytes; at most {limit} are accepted")
    stream = tar.extractfile(member)
    if stream is None:
        raise InvalidPackage(f"{name} is not a regular file")
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
        value = {"weak": value}
    if not isinstance(value, dict):
        raise InvalidPackage(f"{name} must hold a JSON object or list")
    # Shards carry it in every record, where clients parse it strictly (CEP 21).
    if not is_run_exports(value):
        raise InvalidPackage(f"{name} must map kinds (weak, strong, ...) to lists of strings")
    return value
