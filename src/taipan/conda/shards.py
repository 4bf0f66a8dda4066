"""CEP 16 sharded repodata: one shard per package name, and the index naming them.

Bytes are deterministic (sorted maps, fixed zstd level, no timestamps) so that the same
records always give the same shard, and a shard's name is the sha256 of its bytes.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgpack
import orjson
import zstandard

from taipan.conda.names import split_extension

SHARD_ZSTD_LEVEL = 12
# The shard index is mostly incompressible digests and is re-compressed after every change:
# for 50k names (conda-forge's linux-64 has ~30k; 2.6 MB of msgpack) level 3 took 11.2 ms,
# level 1 5.7 ms, and the first fast level (-1) 4.0 ms for the same bytes to within 0.2 %
# (the names are what compresses; -3: 2.7 ms, +2.5 %). 12 cost ~6 ms per 10k names.
SHARD_INDEX_ZSTD_LEVEL = -1
# The trailing slash matters: conda's reader before conda-libmamba-solver PR 750 (issue 748)
# resolved a shard as urljoin(urljoin(index_url, shards_base_url), "<sha256>.msgpack.zst"),
# which drops a last segment that has no slash. Readers since then add one when missing.
SHARDS_BASE_URL = "./shards/"


def _compress(raw: bytes, level: int = SHARD_ZSTD_LEVEL) -> bytes:
    """One frame that declares its content size: older conda readers called
    ``zstandard.decompress`` without a size bound, which refuses frames without it."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(raw)


def encode_shard(records: Iterable[tuple[str, bytes, dict[str, Any] | None]]) -> bytes:
    """``records`` are (filename, record JSON bytes, run_exports) sorted by file name."""
    packages: dict[str, Any] = {}
    packages_conda: dict[str, Any] = {}
    for filename, record_json, run_exports in records:
        record = orjson.loads(record_json)
        # CEP 16: sha256 and md5 as raw bytes; CEP 21: run_exports in every record ({} = none).
        record["sha256"] = bytes.fromhex(record["sha256"])
        record["md5"] = bytes.fromhex(record["md5"])
        record["run_exports"] = _sorted(run_exports or {})
        _, ext = split_extension(filename)
        (packages_conda if ext == ".conda" else packages)[filename] = dict(sorted(record.items()))
    shard = {"packages": packages, "packages.conda": packages_conda, "removed": []}
    # use_bin_type: bytes are msgpack bin, which old conda readers needed (they called .hex()).
    return _compress(msgpack.packb(shard, use_bin_type=True))


def shard_filenames(data: bytes) -> list[str]:
    """The file names a shard (as :func:`encode_shard` writes it) has records of."""
    shard = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(data))
    return [*shard["packages"], *shard["packages.conda"]]


def shard_digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def encode_shard_index(subdir: str, shards: Mapping[str, bytes]) -> bytes:
    """``shards`` maps package name to the 32-byte sha256 of its shard."""
    index = {
        "info": {"base_url": "", "shards_base_url": SHARDS_BASE_URL, "subdir": subdir},
        "shards": dict(sorted(shards.items())),
        "version": 1,
    }
    return _compress(msgpack.packb(index, use_bin_type=True), SHARD_INDEX_ZSTD_LEVEL)


class ShardIndex:
    """The shard index kept as its msgpack pieces, so that a change patches one entry.

    ``encode()`` gives exactly the bytes :func:`encode_shard_index` gives for the same
    names and digests (tests/unit/conda/test_shards.py checks it on random edits): the map
    of names is one msgpack-encoded chunk per name, in name order, so setting or removing
    a name replaces, inserts or deletes one chunk (O(log K) to find, plus moving pointers),
    and encoding is joining the chunks and compressing them — no name is re-encoded.
    """

    def __init__(self, subdir: str, shards: Mapping[str, bytes]) -> None:
        pack = msgpack.Packer(use_bin_type=True)
        info = {"base_url": "", "shards_base_url": SHARDS_BASE_URL, "subdir": subdir}
        self._head = pack.pack_map_header(3) + pack.pack("info") + pack.pack(info) + pack.pack("shards")
        self._tail = pack.pack("version") + pack.pack(1)
        self._names = sorted(shards)
        self._chunks = [_entry(name, shards[name]) for name in self._names]

    def set(self, name: str, digest: bytes) -> None:
        i = bisect.bisect_left(self._names, name)
        if i < len(self._names) and self._names[i] == name:
            self._chunks[i] = _entry(name, digest)
        else:
            self._names.insert(i, name)
            self._chunks.insert(i, _entry(name, digest))

    def remove(self, name: str) -> None:
        i = bisect.bisect_left(self._names, name)
        if i < len(self._names) and self._names[i] == name:
            del self._names[i]
            del self._chunks[i]

    def encode(self) -> bytes:
        size = msgpack.Packer().pack_map_header(len(self._names))
        return _compress(b"".join([self._head, size, *self._chunks, self._tail]), SHARD_INDEX_ZSTD_LEVEL)


def _entry(name: str, digest: bytes) -> bytes:
    return msgpack.packb(name) + msgpack.packb(digest, use_bin_type=True)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
