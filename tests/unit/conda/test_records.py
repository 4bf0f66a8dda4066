"""check_index, build_record and dump_record: the repodata record made once, at ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from taipan.conda.names import parse_filename
from taipan.conda.records import SERVER_KEYS, STRIPPED_KEYS, Hashes, build_record, check_index, dump_record
from taipan.errors import InvalidPackage

HASHES = Hashes(sha256="ab" * 32, md5="cd" * 16, size=1234)


def _index(**changes: Any) -> dict[str, Any]:
    index: dict[str, Any] = {
        "name": "foo",
        "version": "1.0",
        "build": "h0_1",
        "build_number": 1,
        "subdir": "linux-64",
        "depends": ["python >=3.9"],
        "timestamp": 1_700_000_000_000,
    }
    for key, value in changes.items():
        if value is _DROP:
            index.pop(key)
        else:
            index[key] = value
    return index


_DROP = object()


def _check(index: dict[str, Any], filename: str = "foo-1.0-h0_1.conda") -> None:
    check_index(index, parse_filename(filename))


def test_a_good_index_passes() -> None:
    _check(_index())
    _check(_index(), "foo-1.0-h0_1.tar.bz2")


@pytest.mark.parametrize("key", ["name", "version", "build", "build_number", "subdir"])
def test_each_required_field(key: str) -> None:
    with pytest.raises(InvalidPackage, match=rf"lacks required field\(s\): {key}$"):
        _check(_index(**{key: _DROP}))


def test_all_missing_fields_are_named() -> None:
    with pytest.raises(InvalidPackage, match=r"lacks required field\(s\): name, version, build, build_number, subdir"):
        _check({})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": 1}, "'name' must be a string"),
        ({"version": 1.0}, "'version' must be a string"),
        ({"build": None}, "'build' must be a string"),
        ({"subdir": ["noarch"]}, "'subdir' must be a string"),
        ({"build_number": -1}, "'build_number' must be a non-negative integer"),
        ({"build_number": "1"}, "'build_number' must be a non-negative integer"),
        ({"build_number": True}, "'build_number' must be a non-negative integer"),
        ({"build_number": 1.0}, "'build_number' must be a non-negative integer"),
        ({"build_number": 2**31}, "'build_number' must be a non-negative integer, at most 2147483647"),
        ({"name": "Foo"}, "package name 'Foo' is not valid"),
        ({"version": "1..0"}, "version '1..0' is not a conda version"),
        ({"version": "1-0"}, "version '1-0' is not valid"),
        ({"build": "h0-1"}, "build string 'h0-1' is not valid"),
        ({"subdir": "linux-999"}, "subdir 'linux-999' is not a conda platform or noarch"),
        ({"depends": "python"}, "'depends' must be a list of strings"),
        ({"depends": None}, "'depends' must be a list of strings"),
        ({"constrains": [1]}, "'constrains' must be a list of strings"),
        ({"flags": "x"}, "'flags' must be a list of strings"),
        ({"timestamp": "now"}, "'timestamp' must be an integer"),
        ({"timestamp": -1}, "'timestamp' must be an integer"),
        ({"timestamp": 2**53}, "before the year 10000"),
        ({"timestamp": 253_402_300_799}, "before the year 10000"),
        ({"license": 5}, "'license' must be a string"),
        ({"license_family": ["MIT"]}, "'license_family' must be a string"),
        ({"features": ["a"]}, "'features' must be a string"),
        ({"python_site_packages_path": 1}, "'python_site_packages_path' must be a string"),
        ({"noarch": "banana"}, "'noarch' must be 'python', 'generic' or a boolean"),
        ({"noarch": 5}, "'noarch' must be"),
        ({"track_features": 5}, "'track_features' must be a string or a list of strings"),
        ({"track_features": None}, "'track_features' must be"),
        ({"extra_depends": ["a"]}, "'extra_depends' must map names to lists of strings"),
        ({"extra_depends": {"a": "b"}}, "'extra_depends' must map"),
        ({"purls": ["pypi/foo"]}, r"'purls' must be a list of package URLs"),
        ({"run_exports": {"weak": "a"}}, "'run_exports' must map kinds to lists of strings"),
        ({"legacy_bz2_md5": "xyz"}, "'legacy_bz2_md5' must be an MD5 digest"),
        ({"legacy_bz2_size": "1"}, "'legacy_bz2_size' must be a non-negative integer"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_bad_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        _check(_index(**changes))


@pytest.mark.parametrize(
    ("filename", "says"),
    [
        ("bar-1.0-h0_1.conda", "foo-1.0-h0_1.conda"),
        ("foo-2.0-h0_1.conda", "foo-1.0-h0_1.conda"),
        ("foo-1.0-h0_2.conda", "foo-1.0-h0_1.conda"),
        ("foo-1.0-h0_1.tar.bz2", "foo-1.0-h0_1.tar.bz2"),  # matches: no error
    ],
)
def test_file_name_must_match_the_index(filename: str, says: str) -> None:
    if filename == says:
        _check(_index(), filename)
        return
    with pytest.raises(InvalidPackage, match=f"does not match the package's info/index.json, which says '{says}'"):
        _check(_index(), filename)


def test_build_record_strips_build_machine_keys_and_adds_hashes() -> None:
    index = _index(arch="x86_64", platform="linux", mtime=1, has_prefix=True, license="MIT", depends=_DROP)
    record = build_record(index, HASHES, indexed_timestamp=42)
    assert not STRIPPED_KEYS & set(record)
    assert record["license"] == "MIT"
    assert record["depends"] == []  # always present, even when index.json has none
    assert (record["sha256"], record["md5"], record["size"]) == (HASHES.sha256, HASHES.md5, HASHES.size)
    assert record["indexed_timestamp"] == 42
    assert "arch" in index, "the index given is not changed"


def test_build_record_drops_keys_clients_take_from_the_server() -> None:
    # A package saying where it lives (url, fn, channel) or what it hashes to would have
    # conda fetch another file, or check against the package's word rather than the bytes.
    index = _index(
        url="https://evil.example/foo.conda",
        fn="other-1.0-0.conda",
        channel="https://evil.example",
        schannel="evil",
        md5="0" * 32,
        sha256="0" * 64,
        size=1,
        indexed_timestamp=1,
        python_site_packages_path="lib/python3.13t/site-packages",
        purls=["pkg:pypi/foo"],
        some_new_key={"kept": True},
    )
    record = build_record(index, HASHES, indexed_timestamp=42)
    assert not (SERVER_KEYS - {"md5", "sha256", "size", "indexed_timestamp"}) & set(record)
    assert (record["sha256"], record["md5"], record["size"]) == (HASHES.sha256, HASHES.md5, HASHES.size)
    assert record["indexed_timestamp"] == 42
    # CEP 17 and every other key the server does not own pass through untouched.
    assert record["python_site_packages_path"] == "lib/python3.13t/site-packages"
    assert record["purls"] == ["pkg:pypi/foo"]
    assert record["some_new_key"] == {"kept": True}


def test_build_record_keeps_the_depends_it_has() -> None:
    assert build_record(_index(), HASHES, 0)["depends"] == ["python >=3.9"]


def test_dump_record_is_sorted_and_compact() -> None:
    data = dump_record({"b": 1, "a": [1, 2], "c": {"y": 1, "x": 2}})
    assert data == b'{"a":[1,2],"b":1,"c":{"x":2,"y":1}}'
    assert dump_record(orjson.loads(data)) == data


# rattler (inside pixi and rattler-build) reads a whole repodata.json or nothing: a record it
# cannot parse makes every package of the subdir unreachable. So what check_index lets
# through, rattler must read; and what check_index refuses is what rattler would refuse.
EDGES: list[dict[str, Any]] = [
    {},
    {"timestamp": 0},
    {"timestamp": 1_700_000_000},  # seconds, as old packages have
    {"timestamp": 253_402_207_200},
    {"timestamp": 253_402_207_201},
    {"timestamp": 253_402_300_799},
    {"timestamp": 253_402_300_800},
    {"timestamp": 253_402_207_200_000},
    {"timestamp": 253_402_207_200_001},
    {"timestamp": 2**53},
    {"timestamp": None},
    {"noarch": "python"},
    {"noarch": "generic"},
    {"noarch": ""},
    {"noarch": True},
    {"noarch": False},
    {"noarch": None},
    {"noarch": "banana"},
    {"noarch": 5},
    {"license": None},
    {"license": 5},
    {"license_family": 5},
    {"features": "blas"},
    {"features": ["blas"]},
    {"track_features": "a b"},
    {"track_features": ["a"]},
    {"track_features": 5},
    {"track_features": ["a", 5]},
    {"python_site_packages_path": "lib/python3.13/site-packages"},
    {"python_site_packages_path": 1},
    {"extra_depends": {"test": ["pytest"]}},
    {"extra_depends": {"test": "pytest"}},
    {"extra_depends": None},
    {"purls": ["pkg:pypi/foo"]},
    {"purls": None},
    {"purls": ["foo"]},
    {"flags": ["x"]},
    {"flags": None},
    {"run_exports": {"weak": ["foo"]}},
    {"run_exports": {"weak": "foo"}},
    {"legacy_bz2_md5": "0" * 32},
    {"legacy_bz2_md5": "xyz"},
    {"legacy_bz2_size": 10},
    {"legacy_bz2_size": "10"},
    {"constrains": None},
    {"build_number": 2**31 - 1},
    {"unknown_key": {"deep": [1, None]}},
]

RATTLER_READS = r"""
import json, os, sys
from rattler import Channel, RepoData

verdicts = []
for path in json.loads(sys.argv[1]):
    try:
        RepoData.from_path(path).into_repo_data(Channel("judge"))
        verdicts.append(True)
    except Exception:
        verdicts.append(False)
sys.stdout.write(json.dumps(verdicts) + "\n")
sys.stdout.flush()
os._exit(0)  # py-rattler may crash at interpreter exit
"""


def _accepted(index: dict[str, Any]) -> bool:
    try:
        _check(index)
    except InvalidPackage:
        return False
    return True


def test_check_index_agrees_with_rattler(tmp_path: Path) -> None:
    paths = []
    for i, changes in enumerate(EDGES):
        record = orjson.loads(dump_record(build_record(_index(**changes), HASHES, 0)))
        repodata = {"info": {"subdir": "linux-64"}, "packages.conda": {"foo-1.0-h0_1.conda": record}}
        path = tmp_path / f"repodata-{i}.json"
        path.write_text(json.dumps(repodata))
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-c", RATTLER_READS, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines, proc.stderr
    rattler = json.loads(lines[-1])
    ours = [_accepted(_index(**changes)) for changes in EDGES]
    disagreements = [(changes, o, r) for changes, o, r in zip(EDGES, ours, rattler, strict=True) if o != r]
    # The only leniency we allow ourselves the other way: refusing what rattler would read.
    unsafe = [(changes, o, r) for changes, o, r in disagreements if o and not r]
    assert unsafe == [], f"accepted, but rattler cannot read the repodata: {unsafe}"
    assert disagreements == [], f"(changes, taipan accepts, rattler reads): {disagreements}"
