"""Render ``repodata.json`` from records already serialised at ingest.

The records are concatenated, not re-serialised: the cost of a render is one pass over
the bytes of the subdir's records (a few hundred bytes each), sorted by file name.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable

import orjson
import zstandard

from taipan.conda.names import split_extension


def render_repodata(subdir: str, records: Iterable[tuple[str, bytes]]) -> bytes:
    """``records`` are (filename, record JSON bytes) pairs sorted by file name."""
    tar_bz2: list[bytes] = []
    conda: list[bytes] = []
    for filename, record in records:
        _, ext = split_extension(filename)
        (conda if ext == ".conda" else tar_bz2).append(orjson.dumps(filename) + b":" + record)
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


def compress_zst(data: bytes, level: int) -> bytes:
    return zstandard.ZstdCompressor(level=level, threads=-1).compress(data)


def compress_bz2(data: bytes) -> bytes:
    return bz2.compress(data, compresslevel=9)
