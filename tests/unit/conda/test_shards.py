"""CEP 16 shards and shard index: msgpack in zstd, deterministic, hashes as raw bytes."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urljoin

import msgpack
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from taipan.conda.records import Hashes, build_record, dump_record
from taipan.conda.shards import SHARDS_BASE_URL, ShardIndex, encode_shard, encode_shard_index, shard_digest
from taipan.errors import InvalidPackage


def _decode(data: bytes) -> Any:
    return msgpack.unpackb(zstandard.ZstdDecompressor().stream_reader(data).read(), raw=False)


def _record(version: str, seed: str) -> bytes:
    index = {"name": "foo", "version": version, "build": "0", "build_number": 0, "subdir": "noarch", "license": "MIT"}
    hashes = Hashes(
        sha256=hashlib.sha256(seed.encode()).hexdigest(),
        md5=hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest(),
        size=9,
    )
    return dump_record(build_record(index, hashes, 1_700_000_000_000))


RECORDS = [
    ("foo-1.0-0.conda", _record("1.0", "a"), {"weak": ["foo >=1.0"], "strong": ["bar"]}),
    ("foo-1.0-0.tar.bz2", _record("1.0", "b"), None),
    ("foo-2.0-0.conda", _record("2.0", "c"), {}),
]


def test_shard_has_both_package_maps_and_removed() -> None:
    shard = _decode(encode_shard(RECORDS))
    assert set(shard) == {"packages", "packages.conda", "removed"}
    assert list(shard["packages.conda"]) == ["foo-1.0-0.conda", "foo-2.0-0.conda"]
    assert list(shard["packages"]) == ["foo-1.0-0.tar.bz2"]
    assert shard["removed"] == []


def test_shard_hashes_are_raw_bytes() -> None:
    record = _decode(encode_shard(RECORDS))["packages.conda"]["foo-1.0-0.conda"]
    assert record["sha256"] == hashlib.sha256(b"a").digest()
    assert record["md5"] == hashlib.md5(b"a", usedforsecurity=False).digest()
    assert (len(record["sha256"]), len(record["md5"])) == (32, 16)


def test_shard_records_carry_run_exports() -> None:
    shard = _decode(encode_shard(RECORDS))
    assert shard["packages.conda"]["foo-1.0-0.conda"]["run_exports"] == {"strong": ["bar"], "weak": ["foo >=1.0"]}
    assert shard["packages"]["foo-1.0-0.tar.bz2"]["run_exports"] == {}  # none: an empty map, not missing
    assert shard["packages.conda"]["foo-2.0-0.conda"]["run_exports"] == {}


def test_shard_records_keep_the_rest_of_the_record() -> None:
    record = _decode(encode_shard(RECORDS))["packages.conda"]["foo-2.0-0.conda"]
    assert record["version"] == "2.0"
    assert record["license"] == "MIT"
    assert record["depends"] == []
    assert list(record) == sorted(record)


def test_shards_are_deterministic() -> None:
    first = encode_shard(RECORDS)
    assert encode_shard(list(RECORDS)) == first
    reordered_exports = [(f, r, dict(reversed(list(x.items()))) if x else x) for f, r, x in RECORDS]
    assert encode_shard(reordered_exports) == first
    assert shard_digest(first) == hashlib.sha256(first).digest()
    assert encode_shard(RECORDS[:2]) != first


def test_shard_refuses_a_file_with_no_package_extension() -> None:
    with pytest.raises(InvalidPackage):
        encode_shard([("foo-1.0-0.zip", _record("1.0", "a"), None)])


def test_shard_index() -> None:
    digests = {"foo": hashlib.sha256(b"foo").digest(), "bar": hashlib.sha256(b"bar").digest()}
    index = _decode(encode_shard_index("linux-64", digests))
    assert index["version"] == 1
    info = index["info"]
    assert info == {"base_url": "", "shards_base_url": SHARDS_BASE_URL, "subdir": "linux-64"}
    assert all(isinstance(value, str) for value in info.values())
    assert list(index["shards"]) == ["bar", "foo"]
    assert index["shards"]["foo"] == digests["foo"]
    assert all(isinstance(d, bytes) and len(d) == 32 for d in index["shards"].values())


def test_shard_index_is_deterministic() -> None:
    digests = {name: hashlib.sha256(name.encode()).digest() for name in ("c", "a", "b")}
    first = encode_shard_index("noarch", digests)
    assert encode_shard_index("noarch", dict(sorted(digests.items()))) == first
    assert encode_shard_index("noarch", {}) != first
    assert _decode(encode_shard_index("noarch", {}))["shards"] == {}


# conda's shard reader before conda-libmamba-solver PR 750 (issue 748, which listed what
# rattler-written shards got wrong) is the strictest one out there; these decode the way
# it did, so Taipan's shards work with it as well as with today's readers:
# - ``zstandard.decompress(data)`` with no size bound: the frame must declare its content size;
# - ``value.hex()`` on hashes: they must be msgpack bin (bytes), not arrays of ints;
# - ``urljoin(urljoin(index_url, shards_base_url), name)``: without a trailing slash the
#   last segment of shards_base_url would be replaced, not extended.


def _strict(data: bytes) -> Any:
    params = zstandard.get_frame_parameters(data)
    assert params.content_size not in (0, zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR)
    raw = zstandard.decompress(data)  # raises "could not determine content size" without it
    assert len(raw) == params.content_size
    return msgpack.unpackb(raw, raw=False, strict_map_key=True)


def test_shard_index_decodes_the_strict_way() -> None:
    digests = {"foo": hashlib.sha256(b"foo").digest(), "bar": hashlib.sha256(b"bar").digest()}
    index = _strict(encode_shard_index("linux-64", digests))
    assert {name: value.hex() for name, value in index["shards"].items()} == {k: v.hex() for k, v in digests.items()}
    assert all(type(value) is bytes for value in index["shards"].values())
    index_url = "https://host/ch/linux-64/repodata_shards.msgpack.zst"
    url = urljoin(urljoin(index_url, index["info"]["shards_base_url"]), "ab")
    assert url == "https://host/ch/linux-64/shards/ab"
    assert index["info"]["shards_base_url"].endswith("/")


def test_empty_shard_index_still_declares_its_size() -> None:
    assert _strict(encode_shard_index("noarch", {}))["shards"] == {}


def test_shard_decodes_the_strict_way() -> None:
    shard = _strict(encode_shard(RECORDS))
    for group in ("packages", "packages.conda"):
        for record in shard[group].values():
            assert type(record["sha256"]) is bytes
            assert len(record["sha256"]) == 32
            assert type(record["md5"]) is bytes
            assert len(record["md5"]) == 16
            assert record["sha256"].hex()
            assert record["md5"].hex()


_edits = st.lists(
    st.tuples(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=8), st.none() | st.binary(min_size=32, max_size=32)
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.dictionaries(st.text(min_size=1, max_size=8), st.binary(min_size=32, max_size=32), max_size=20),
    edits=_edits,
)
def test_patched_shard_index_encodes_as_a_fresh_one(
    start: dict[str, bytes], edits: list[tuple[str, bytes | None]]
) -> None:
    index = ShardIndex("linux-64", start)
    current = dict(start)
    for name, digest in edits:
        if digest is None:
            index.remove(name)
            current.pop(name, None)
        else:
            index.set(name, digest)
            current[name] = digest
        assert index.encode() == encode_shard_index("linux-64", current)
