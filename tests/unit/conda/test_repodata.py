"""render_repodata: records concatenated, never re-serialised, into valid repodata.json."""

from __future__ import annotations

import bz2
import json

import orjson
import pytest
import zstandard

from taipan.conda.records import dump_record
from taipan.conda.repodata import compress_bz2, compress_zst, render_repodata
from taipan.errors import InvalidPackage


def _record(name: str, version: str = "1.0") -> bytes:
    return dump_record({"name": name, "version": version, "build": "0", "build_number": 0, "depends": []})


def test_empty_subdir() -> None:
    data = json.loads(render_repodata("noarch", []))
    assert data == {
        "info": {"subdir": "noarch"},
        "packages": {},
        "packages.conda": {},
        "removed": [],
        "repodata_version": 1,
    }


def test_records_go_under_their_format() -> None:
    records = [
        ("a-1.0-0.conda", _record("a")),
        ("a-1.0-0.tar.bz2", _record("a")),
        ("b-2.0-0.conda", _record("b", "2.0")),
        ("c-1.0-0.tar.bz2", _record("c")),
    ]
    data = json.loads(render_repodata("linux-64", records))
    assert data["info"] == {"subdir": "linux-64"}
    assert list(data["packages.conda"]) == ["a-1.0-0.conda", "b-2.0-0.conda"]
    assert list(data["packages"]) == ["a-1.0-0.tar.bz2", "c-1.0-0.tar.bz2"]
    assert data["packages.conda"]["b-2.0-0.conda"] == orjson.loads(_record("b", "2.0"))
    assert data["removed"] == []
    assert data["repodata_version"] == 1


def test_record_bytes_are_copied_verbatim() -> None:
    record = _record("a")
    assert record in render_repodata("noarch", [("a-1.0-0.conda", record)])


def test_same_records_same_bytes() -> None:
    records = [("a-1.0-0.conda", _record("a")), ("b-1.0-0.tar.bz2", _record("b"))]
    assert render_repodata("noarch", records) == render_repodata("noarch", list(records))


def test_a_record_with_no_package_extension_is_refused() -> None:
    with pytest.raises(InvalidPackage):
        render_repodata("noarch", [("a-1.0-0.zip", _record("a"))])


@pytest.mark.parametrize("level", [1, 9, 19])
def test_zst_round_trips(level: int) -> None:
    raw = render_repodata("noarch", [(f"p{i}-1.0-0.conda", _record(f"p{i}")) for i in range(200)])
    compressed = compress_zst(raw, level)
    assert len(compressed) < len(raw)
    assert zstandard.ZstdDecompressor().stream_reader(compressed).read() == raw


def test_bz2_round_trips() -> None:
    raw = render_repodata("noarch", [("a-1.0-0.conda", _record("a"))])
    assert bz2.decompress(compress_bz2(raw)) == raw
