"""Build bad packages, byte for byte: every way an upload can be wrong.

A package is a list of tar entries (a header and its data). The data may be
:class:`Zeros`, which is never held in memory: it is compressed once per MiB and that
frame repeated (zstd frames and bz2 streams may be concatenated), so a file of a few
KiB can inflate to gigabytes. That is how the decompression bombs below are made.
"""

from __future__ import annotations

import bz2
import functools
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import zstandard

from tests.support.packages import Spec, members

MIB = 1024**2


@dataclass(frozen=True)
class Zeros:
    """``size`` zero bytes, produced lazily."""

    size: int


Data = bytes | Zeros
Entry = tuple[tarfile.TarInfo, Data]


def _header(name: str, kind: bytes, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = linkname
    info.mtime = 1_700_000_000
    info.mode = 0o644
    return info


def regular(name: str, data: Data) -> Entry:
    size = data.size if isinstance(data, Zeros) else len(data)
    return _header(name, tarfile.REGTYPE, size), data


def symlink(name: str, target: str) -> Entry:
    return _header(name, tarfile.SYMTYPE, linkname=target), b""


def hardlink(name: str, target: str) -> Entry:
    return _header(name, tarfile.LNKTYPE, linkname=target), b""


def fifo(name: str) -> Entry:
    return _header(name, tarfile.FIFOTYPE), b""


def device(name: str) -> Entry:
    return _header(name, tarfile.CHRTYPE), b""


def pax_header(size: int) -> Entry:
    """A pax extended header of ``size`` zero bytes (tarfile reads these whole)."""
    return _header("././@PaxHeader", tarfile.XHDTYPE, size), Zeros(size)


def gnu_long_name(size: int) -> Entry:
    """A GNU long-name header of ``size`` zero bytes (tarfile reads these whole, too)."""
    return _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size), Zeros(size)


def good_entries(spec: Spec) -> list[Entry]:
    """The entries of a valid package for ``spec``."""
    return [regular(name, data) for name, data in members(spec)]


def with_member(entries: Sequence[Entry], name: str, data: Data | None) -> list[Entry]:
    """``entries`` with member ``name`` given ``data`` (added if missing), or removed if ``data`` is None."""
    kept = [e for e in entries if e[0].name != name]
    if data is None:
        return kept
    found = [i for i, e in enumerate(entries) if e[0].name == name]
    position = found[0] if found else len(kept)
    return [*kept[:position], regular(name, data), *kept[position:]]


def index_bytes(spec: Spec, **changes: object) -> bytes:
    """The spec's info/index.json with keys changed (a value of ``None`` drops the key)."""
    index = json.loads(dict(members(spec))["info/index.json"])
    for key, value in changes.items():
        if value is None:
            index.pop(key, None)
        else:
            index[key] = value
    return json.dumps(index).encode()


def write(
    out: Path,
    filename: str,
    entries: Sequence[Entry],
    *,
    omit: Collection[str] = (),
    extra: Mapping[str, bytes] | None = None,
    pkg_extra: Sequence[Entry] = (),
    info_extra: Sequence[Entry] = (),
) -> Path:
    """Write ``entries`` as ``out/filename`` (.conda or .tar.bz2, from the name; any other name: .tar.bz2).

    For a .conda, ``info/`` entries go into the info component and the rest into the pkg
    component, then ``pkg_extra`` and ``info_extra`` are appended to those components
    whatever their names; ``omit`` drops zip members by name and ``extra`` adds zip members.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    if not filename.endswith(".conda"):
        path.write_bytes(b"".join(_compressed(_tar(entries), "bz2")))
        return path
    stem = filename[: -len(".conda")]
    info = [e for e in entries if e[0].name.startswith("info/")] + list(info_extra)
    pkg = [e for e in entries if not e[0].name.startswith("info/")] + list(pkg_extra)
    components = {
        "metadata.json": json.dumps({"conda_pkg_format_version": 2}).encode(),
        f"pkg-{stem}.tar.zst": b"".join(_compressed(_tar(pkg), "zst")),
        f"info-{stem}.tar.zst": b"".join(_compressed(_tar(info), "zst")),
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in components.items():
            if name not in omit:
                zf.writestr(name, data)
    return path


def truncated(path: Path, out: Path) -> Path:
    """A copy of ``path`` (same name, in ``out``) cut in half."""
    data = path.read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    target = out / path.name
    target.write_bytes(data[: len(data) // 2])
    return target


def garbage(out: Path, filename: str, size: int = 4096) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_bytes(os.urandom(size))
    return path


def _tar(entries: Sequence[Entry]) -> Iterator[Data]:
    for info, data in entries:
        yield info.tobuf(format=tarfile.GNU_FORMAT)
        yield data
        if info.size % tarfile.BLOCKSIZE:
            yield bytes(tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
    yield bytes(2 * tarfile.BLOCKSIZE)  # end of archive


def _compressed(pieces: Iterator[Data], codec: str) -> Iterator[bytes]:
    """One frame per run of real bytes; repeated frames for zeros."""
    pending = io.BytesIO()
    for piece in pieces:
        if isinstance(piece, bytes):
            pending.write(piece)
            continue
        if pending.tell():
            yield _compress(pending.getvalue(), codec)
            pending = io.BytesIO()
        whole, rest = divmod(piece.size, MIB)
        yield _zero_frame(codec) * whole
        if rest:
            yield _compress(bytes(rest), codec)
    if pending.tell():
        yield _compress(pending.getvalue(), codec)


def _compress(data: bytes, codec: str) -> bytes:
    if codec == "bz2":
        return bz2.compress(data)
    return zstandard.ZstdCompressor(level=3).compress(data)


@functools.cache
def _zero_frame(codec: str) -> bytes:
    return _compress(bytes(MIB), codec)
