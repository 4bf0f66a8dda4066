"""read_package: every malformed kind of archive is refused with a message naming it; good ones pass."""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import pytest

from taipan.conda import archive
from taipan.conda.archive import PackageMetadata, read_package
from taipan.errors import InvalidPackage, TooLarge
from tests.support import malformed, packages
from tests.support.malformed import MIB, Zeros
from tests.support.packages import Spec

FORMATS = [".conda", ".tar.bz2"]


def _read(path: Path, *, ratio: int = 200) -> PackageMetadata:
    with path.open("rb") as f:
        return read_package(f, path.name, path.stat().st_size, ratio)


def _bad(tmp_path: Path, fmt: str, entries: list[malformed.Entry]) -> Path:
    spec = Spec("foo", fmt=fmt)
    return malformed.write(tmp_path, spec.filename, entries)


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> int:
    """Lower the archive's unpacked-size floor so bombs can be small and fast."""
    monkeypatch.setattr(archive, "MIN_UNPACKED_LIMIT", 4 * MIB)
    return 4 * MIB


@pytest.mark.parametrize("fmt", FORMATS)
def test_good_package_gives_its_metadata(tmp_path: Path, fmt: str) -> None:
    spec = Spec(
        "foo",
        "1.2",
        "h0_3",
        build_number=3,
        subdir="linux-64",
        fmt=fmt,
        depends=["bar >=1"],
        about={"license": "MIT"},
        run_exports={"weak": ["foo >=1.2"]},
        files={"bin/a": b"a", "bin/b": b"b"},
    )
    meta = _read(packages.build(spec, tmp_path))
    assert meta.index["name"] == "foo"
    assert meta.index["depends"] == ["bar >=1"]
    assert meta.about["license"] == "MIT"
    assert meta.run_exports == {"weak": ["foo >=1.2"]}
    assert meta.file_count == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_optional_members_may_be_absent(tmp_path: Path, fmt: str) -> None:
    spec = Spec("foo", fmt=fmt)
    entries = malformed.good_entries(spec)
    for name in ("info/about.json", "info/paths.json"):
        entries = malformed.with_member(entries, name, None)
    meta = _read(malformed.write(tmp_path, spec.filename, entries))
    assert meta.about == {}
    assert meta.run_exports is None
    assert meta.file_count == 1  # counted from the members, not from paths.json


def test_paths_json_is_never_parsed(tmp_path: Path) -> None:
    # A few KiB that parse to ~100 million empty objects: parsed whole, ~2 GiB of memory.
    # The install manifest is the client's business; the file count comes from the members.
    spec = Spec("foo", files={"bin/a": b"a", "bin/b": b"b", "bin/c": b"c"})
    huge = b'{"paths": [' + b"{}," * (20 * MIB) + b'{}], "paths_version": 1}'
    entries = malformed.with_member(malformed.good_entries(spec), "info/paths.json", huge)
    path = _bad(tmp_path, ".conda", entries)
    assert path.stat().st_size < 1 * MIB
    assert _read(path).file_count == 3


def test_metadata_comes_from_the_info_component_only(tmp_path: Path) -> None:
    # Both components are extracted into one folder: an info/index.json in the pkg
    # component would replace the one read here (a dependency nobody saw).
    spec = Spec("foo")
    forged = malformed.regular("info/index.json", malformed.index_bytes(spec, depends=["evil"]))
    path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), pkg_extra=[forged])
    with pytest.raises(InvalidPackage, match=r"the pkg component of the \.conda holds 'info/index\.json'"):
        _read(path)


@pytest.mark.parametrize("name", ["info/recipe/meta.yaml", "info", "./info/about.json"])
def test_no_info_member_at_all_in_the_pkg_component(tmp_path: Path, name: str) -> None:
    spec = Spec("foo")
    extra = malformed.regular(name, b"")
    path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), pkg_extra=[extra])
    with pytest.raises(InvalidPackage, match=re.escape("the pkg component of the .conda holds")):
        _read(path)


def test_info_component_holds_only_info(tmp_path: Path) -> None:
    spec = Spec("foo")
    extra = malformed.regular("bin/tool", b"x")
    path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), info_extra=[extra])
    with pytest.raises(InvalidPackage, match=re.escape("the info component of the .conda holds 'bin/tool'")):
        _read(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_metadata_member_twice_is_refused(tmp_path: Path, fmt: str) -> None:
    # "./info/index.json" lands where "info/index.json" does: an extractor keeps the last.
    spec = Spec("foo", fmt=fmt)
    second = malformed.regular("./info/index.json", malformed.index_bytes(spec, depends=["evil"]))
    if fmt == ".conda":
        path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), info_extra=[second])
    else:
        path = _bad(tmp_path, fmt, [*malformed.good_entries(spec), second])
    with pytest.raises(InvalidPackage, match=re.escape("holds info/index.json twice")):
        _read(path)


def test_old_list_form_of_run_exports_means_weak(tmp_path: Path) -> None:
    spec = Spec("foo")
    entries = malformed.with_member(malformed.good_entries(spec), "info/run_exports.json", b'["foo >=1"]')
    assert _read(malformed.write(tmp_path, spec.filename, entries)).run_exports == {"weak": ["foo >=1"]}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        ("info/index.json", None, "has no info/index.json"),
        ("info/index.json", b"{not json", "info/index.json is not valid JSON"),
        ("info/index.json", b"", "info/index.json is not valid JSON"),
        ("info/index.json", b'["name", "foo"]', "info/index.json must hold a JSON object"),
        ("info/index.json", b'"foo"', "info/index.json must hold a JSON object"),
        ("info/about.json", b"{", "info/about.json is not valid JSON"),
        ("info/about.json", b"[]", "info/about.json must hold a JSON object"),
        ("info/run_exports.json", b"nope", "info/run_exports.json is not valid JSON"),
        ("info/run_exports.json", b"3", "info/run_exports.json must hold a JSON object or list"),
    ],
    ids=[
        "index-missing",
        "index-not-json",
        "index-empty",
        "index-list",
        "index-string",
        "about-not-json",
        "about-list",
        "run-exports-not-json",
        "run-exports-number",
    ],
)
def test_bad_metadata_member(tmp_path: Path, fmt: str, member: str, data: bytes | None, message: str) -> None:
    spec = Spec("foo", fmt=fmt)
    entries = malformed.with_member(malformed.good_entries(spec), member, data)
    with pytest.raises(InvalidPackage, match=message):
        _read(_bad(tmp_path, fmt, entries))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (malformed.regular("../evil", b"x"), r"'\.\./evil' escapes the archive"),
        (malformed.regular("/etc/passwd", b"x"), r"'/etc/passwd' escapes the archive"),
        (malformed.regular("lib/../../evil", b"x"), "escapes the archive"),
        (malformed.regular("info/../../evil", b"x"), "escapes the archive"),
        (malformed.regular("..", b""), "escapes the archive"),
        (malformed.regular("lib\\..\\..\\evil", b"x"), "escapes the archive"),
        (malformed.symlink("lib/link", "../../x"), r"links outside the archive \('\.\./\.\./x'\)"),
        (malformed.symlink("lib/link", "/etc/passwd"), "links outside the archive"),
        (malformed.symlink("link", ".."), "links outside the archive"),
        (malformed.hardlink("lib/hard", "../x"), r"links outside the archive \('\.\./x'\)"),
        (malformed.hardlink("lib/hard", "/etc/passwd"), "links outside the archive"),
        (malformed.fifo("lib/fifo"), "special file"),
        (malformed.device("lib/dev"), "special file"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "dotdot-inside",
        "dotdot-in-info",
        "bare-dotdot",
        "backslash",
        "symlink-up",
        "symlink-absolute",
        "symlink-parent",
        "hardlink-up",
        "hardlink-absolute",
        "fifo",
        "device",
    ],
)
def test_member_that_escapes_or_is_special(tmp_path: Path, fmt: str, entry: malformed.Entry, message: str) -> None:
    entries = [*malformed.good_entries(Spec("foo", fmt=fmt)), entry]
    with pytest.raises(InvalidPackage, match=message):
        _read(_bad(tmp_path, fmt, entries))


@pytest.mark.parametrize("fmt", FORMATS)
def test_links_that_stay_inside_are_fine(tmp_path: Path, fmt: str) -> None:
    entries = [
        *malformed.good_entries(Spec("foo", fmt=fmt)),
        malformed.regular("lib/libfoo.so.1.2", b"elf"),
        malformed.symlink("lib/libfoo.so.1", "libfoo.so.1.2"),
        malformed.symlink("lib/libfoo.so", "./libfoo.so.1"),  # a link to a link
        malformed.symlink("bin/foo", "../lib/libfoo.so.1"),
        malformed.hardlink("lib/libfoo-copy.so", "lib/libfoo.so.1.2"),
        malformed.symlink("lib64", "lib"),  # a linked folder, and a link that goes through it
        malformed.symlink("usr/lib64/libfoo.so", "../../lib64/libfoo.so.1"),
    ]
    assert _read(_bad(tmp_path, fmt, entries)).index["name"] == "foo"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("entries", "message"),
    [
        # each link stays inside on paper; b = a/.. = ./.. is outside
        ([malformed.symlink("a", "."), malformed.symlink("b", "a/..")], r"'b' links outside the archive \('a/\.\.'\)"),
        ([malformed.symlink("b", "a/.."), malformed.symlink("a", ".")], r"'a' links outside the archive \('\.'\)"),
        ([malformed.symlink("lib/a", "."), malformed.symlink("lib/b", "a/../..")], "'lib/b' links outside"),
        (
            [malformed.symlink("lib/up", ".."), malformed.regular("lib/up/x", b"x")],
            "'lib/up/x' escapes the archive through the symlink 'lib/up'",
        ),
        (
            [malformed.symlink("d", "lib"), malformed.hardlink("h", "d/x")],
            r"'h' links outside the archive \('d/x'\) through the symlink 'd'",
        ),
        ([malformed.regular("lib/../x", b"x")], r"'lib/\.\./x' escapes the archive"),
        ([malformed.hardlink("h", "lib/../x")], "links outside the archive"),
    ],
    ids=["chain", "chain-defined-later", "chain-nested", "member-through-symlink", "hardlink-through-symlink",
         "dotdot-staying-inside", "hardlink-dotdot-staying-inside"],
)  # fmt: skip
def test_escapes_through_symlinks(tmp_path: Path, fmt: str, entries: list[malformed.Entry], message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        _read(_bad(tmp_path, fmt, [*malformed.good_entries(Spec("foo", fmt=fmt)), *entries]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_archive(tmp_path: Path, fmt: str) -> None:
    path = packages.build(Spec("foo", fmt=fmt, files={"big": bytes(range(256)) * 400}), tmp_path / "good")
    with pytest.raises(InvalidPackage, match="corrupt or truncated"):
        _read(malformed.truncated(path, tmp_path / "cut"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_bytes(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(InvalidPackage, match="corrupt or truncated"):
        _read(malformed.garbage(tmp_path, f"foo-1.0-0{fmt}"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"foo-1.0-0{fmt}"
    path.write_bytes(b"")
    with pytest.raises(InvalidPackage, match="corrupt or truncated"):
        _read(path)


@pytest.mark.parametrize(
    ("omit", "message"),
    [
        ("info-foo-1.0-0.tar.zst", "lacks info-foo-1.0-0.tar.zst"),
        ("pkg-foo-1.0-0.tar.zst", "lacks pkg-foo-1.0-0.tar.zst"),
        ("metadata.json", "lacks metadata.json"),
    ],
)
def test_conda_zip_lacking_a_component(tmp_path: Path, omit: str, message: str) -> None:
    spec = Spec("foo")
    path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), omit={omit})
    with pytest.raises(InvalidPackage, match=message):
        _read(path)


def test_conda_zip_with_an_unexpected_member(tmp_path: Path) -> None:
    spec = Spec("foo")
    path = malformed.write(tmp_path, spec.filename, malformed.good_entries(spec), extra={"../evil": b"x"})
    with pytest.raises(InvalidPackage, match=r"unexpected members: \.\./evil"):
        _read(path)


def test_conda_renamed_does_not_match_its_components(tmp_path: Path) -> None:
    path = packages.build(Spec("foo"), tmp_path)
    renamed = path.rename(tmp_path / "bar-1.0-0.conda")
    with pytest.raises(InvalidPackage, match=re.escape("lacks info-bar-1.0-0.tar.zst")):
        _read(renamed)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("member", list(archive.MEMBER_LIMITS))
def test_metadata_member_over_its_bound(tmp_path: Path, fmt: str, member: str, small_budget: int) -> None:
    limit = archive.MEMBER_LIMITS[member]
    entries = malformed.with_member(malformed.good_entries(Spec("foo", fmt=fmt)), member, Zeros(limit + 1))
    with pytest.raises(TooLarge, match=f"{member} is {limit + 1} bytes"):
        _read(_bad(tmp_path, fmt, entries))


@pytest.mark.parametrize("fmt", FORMATS)
def test_member_declaring_more_than_the_budget(tmp_path: Path, fmt: str, small_budget: int) -> None:
    entries = [*malformed.good_entries(Spec("foo", fmt=fmt)), malformed.regular("share/zeros", Zeros(small_budget))]
    with pytest.raises(TooLarge, match=f"more than {small_budget} bytes; refusing it as a decompression bomb"):
        _read(_bad(tmp_path, fmt, entries))


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_members_inflating_past_the_budget(tmp_path: Path, fmt: str, small_budget: int) -> None:
    zeros = [malformed.regular(f"share/zeros{i}", Zeros(MIB)) for i in range(6)]
    with pytest.raises(TooLarge, match="decompression bomb"):
        _read(_bad(tmp_path, fmt, [*malformed.good_entries(Spec("foo", fmt=fmt)), *zeros]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_no_member_declares_count_too(tmp_path: Path, fmt: str, small_budget: int) -> None:
    # Extended headers within their own bound, each before a tiny file: no member declares
    # much, so only counting the bytes inflated catches the sum.
    entries = malformed.good_entries(Spec("foo", fmt=fmt))
    for i in range(6):
        entries += [malformed.pax_header(archive.MAX_EXTENDED_HEADER), malformed.regular(f"share/f{i}", b"x")]
    with pytest.raises(TooLarge, match="decompression bomb"):
        _read(_bad(tmp_path, fmt, entries))


@pytest.mark.parametrize("fmt", FORMATS)
def test_budget_grows_with_the_file_size(tmp_path: Path, fmt: str, small_budget: int) -> None:
    entries = [*malformed.good_entries(Spec("foo", fmt=fmt)), malformed.regular("share/zeros", Zeros(6 * MIB))]
    path = _bad(tmp_path, fmt, entries)
    size = path.stat().st_size
    assert _read(path, ratio=(8 * MIB) // size + 1).index["name"] == "foo"
    with pytest.raises(TooLarge):
        _read(path, ratio=1)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("header", [malformed.pax_header, malformed.gnu_long_name], ids=["pax", "gnu-long-name"])
def test_extended_header_bomb(tmp_path: Path, fmt: str, header: object) -> None:
    # tarfile would read the whole header into memory before yielding a member: 300 MiB here.
    assert callable(header)
    entries = [header(300 * MIB), *malformed.good_entries(Spec("foo", fmt=fmt))]
    path = _bad(tmp_path, fmt, entries)
    assert path.stat().st_size < 100_000
    with pytest.raises(TooLarge, match="extended tar header"):
        _read(path)


def test_zip_layer_bomb_of_skippable_frames(tmp_path: Path, small_budget: int) -> None:
    # A deflated info component of zstd skippable frames: zstd yields nothing while it spins.
    spec = Spec("foo")
    good = packages.build(spec, tmp_path / "good")
    with zipfile.ZipFile(good) as zf:
        components = {name: zf.read(name) for name in zf.namelist()}
    info = f"info-{spec.filename[: -len('.conda')]}.tar.zst"
    skippable = struct.pack("<II", 0x184D2A50, small_budget) + bytes(small_budget)
    components[info] = skippable + components[info]
    bomb = tmp_path / spec.filename
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in components.items():
            zf.writestr(name, data)
    with pytest.raises(TooLarge, match="decompression bomb"):
        _read(bomb)


def test_multi_frame_zstd_component_is_read_whole(tmp_path: Path) -> None:
    # zstd frames may be concatenated; conda's readers accept it, so do we.
    spec = Spec("foo")
    entries = [*malformed.good_entries(spec), malformed.regular("share/zeros", Zeros(3 * MIB))]
    assert _read(malformed.write(tmp_path, spec.filename, entries)).index["name"] == "foo"
