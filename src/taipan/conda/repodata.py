"""Render ``repodata.json`` from records already serialised at ingest.

The records are concatenated, not re-serialised: the cost of a render is one pass over
the bytes of the subdir's records (a few hundred bytes each), sorted by file name.
"""

from __future__ import annotations

import bz2
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson
import zstandard

from taipan.conda import zstd_pieces
from taipan.conda.names import split_extension


def render_repodata(subdir: str, records: Iterable[tuple[str, bytes]]) -> bytes:
    """``records`` are (filename, record JSON bytes) pairs sorted by file name."""
    tar_bz2, conda = _sections(records)
    info = orjson.dumps({"subdir": subdir})
    return b"".join(
        [
            b'{"info":',
            info,
            b',"packages":{',
            b",".join(tar_bz2),
            b'},"packages.conda":{',
            b",".join(conda),
            b'},"removed":[],"repodata_version":1}',
        ]
    )


def _sections(records: Iterable[tuple[str, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """The ``"filename":record`` members of "packages" (.tar.bz2) and of "packages.conda"."""
    tar_bz2: list[bytes] = []
    conda: list[bytes] = []
    for filename, record in records:
        _, ext = split_extension(filename)
        (conda if ext == ".conda" else tar_bz2).append(orjson.dumps(filename) + b":" + record)
    return tar_bz2, conda


def compress_zst(data: bytes, level: int) -> bytes:
    return zstandard.ZstdCompressor(level=level, threads=-1).compress(data)


def compress_bz2(data: bytes) -> bytes:
    return bz2.compress(data, compresslevel=9)


# Blocked repodata. The records of a subdir (all of them, sorted by file name) are cut into
# blocks after content-defined cut points: a block starts at every file name whose crc32 is
# a multiple of ``every`` (and the first block at the start). The cut points depend on the
# names alone, so adding or removing one file changes the block it falls in (and splits or
# merges one when the file is a cut point), and the blocks of a set of records are the same
# however that set came about. Each block renders the members of both sections
# ("packages" for .tar.bz2, "packages.conda") it holds, each compressed as a piece on its
# own (taipan.conda.zstd_pieces); repodata.json.zst is one zstd frame of the head, the
# blocks' pieces with "," between them, the middle and the tail.

BLOCK_RECORDS = 1024
"""Expected records per block: ~0.5 MB of JSON, a few ms to recompress at level 9."""


def is_cut(filename: str, every: int = BLOCK_RECORDS) -> bool:
    return zlib.crc32(filename.encode()) % every == 0


@dataclass(frozen=True)
class Block:
    """One block's two section parts, compressed (None for a section it has nothing of)."""

    tar_bz2: zstd_pieces.Piece | None
    conda: zstd_pieces.Piece | None


def render_block(records: Iterable[tuple[str, bytes]], level: int) -> Block:
    """``records`` are (filename, record JSON bytes) sorted by file name."""
    tar_bz2, conda = _sections(records)
    return Block(
        zstd_pieces.compress(b",".join(tar_bz2), level) if tar_bz2 else None,
        zstd_pieces.compress(b",".join(conda), level) if conda else None,
    )


def blocked_zst(subdir: str, blocks: Sequence[Block]) -> tuple[bytes, list[Block]]:
    """repodata.json.zst from its blocks, in order: the JSON of :func:`render_repodata`, with
    whitespace between some tokens (taipan.conda.zstd_pieces.RESET); and the same blocks
    again, their pieces now views into that frame (keep those, not the ones given)."""
    parts: list[bytes | zstd_pieces.Piece] = [b'{"info":' + orjson.dumps({"subdir": subdir}) + b',"packages":{']
    for section in ("tar_bz2", "conda"):
        first = True
        for block in blocks:
            piece = block.tar_bz2 if section == "tar_bz2" else block.conda
            if piece is not None:
                if not first:
                    parts.append(b",")
                parts.append(piece)
                first = False
        parts.append(b'},"packages.conda":{' if section == "tar_bz2" else b'},"removed":[],"repodata_version":1}')
    frame, pieces = zstd_pieces.joined(parts)
    viewed = iter(pieces)  # in the order they were given: every block's .tar.bz2 piece, then every .conda one
    tar_bz2 = [None if block.tar_bz2 is None else next(viewed) for block in blocks]
    conda = [None if block.conda is None else next(viewed) for block in blocks]
    return frame, [Block(t, c) for t, c in zip(tar_bz2, conda, strict=True)]


def decompress(data: bytes) -> bytes:
    """A one-frame ``.zst`` that declares its content size, such as :func:`blocked_zst` makes."""
    return zstandard.ZstdDecompressor().decompress(data)


def content_size(data: bytes) -> int:
    """What a one-frame ``.zst`` that declares its content size decompresses to, in bytes."""
    size = zstandard.frame_content_size(data)
    if size < 0:
        raise ValueError("the zstd frame does not declare its content size")
    return int(size)


def decompress_chunks(data: bytes, chunk: int = 1 << 20) -> Iterator[bytes]:
    """:func:`decompress` piece by piece, never holding more than ``chunk`` decompressed bytes."""
    yield from zstandard.ZstdDecompressor().read_to_iter(data, read_size=chunk, write_size=chunk)


def compress_bz2_chunks(chunks: Iterable[bytes]) -> bytes:
    """:func:`compress_bz2` of the concatenation of ``chunks``, which it never joins."""
    compressor = bz2.BZ2Compressor(9)
    out = [compressor.compress(c) for c in chunks]
    out.append(compressor.flush())
    return b"".join(out)
