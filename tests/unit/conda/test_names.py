"""CEP 26 identifiers: package names, versions, builds, subdirs, channels and file names."""

from __future__ import annotations

import pytest

from taipan.conda.names import (
    KNOWN_SUBDIRS,
    MAX_FILENAME,
    PACKAGE_NAME_RE,
    RESERVED_CHANNEL_NAMES,
    Filename,
    check_build,
    check_channel_name,
    check_package_name,
    check_subdir,
    check_version,
    is_subdir,
    parse_filename,
    split_extension,
)
from taipan.errors import InvalidInput, InvalidPackage

GOOD_NAMES = ["a", "0", "foo", "foo-bar", "foo_bar", "foo.bar", "_foo", "r-base", "py3.9-x", "x" * 64, "a-b_c.d"]
BAD_NAMES = ["", "Foo", "fOO", "foo--bar", "foo__bar", "foo-.bar", "__foo", "-foo", ".foo", "foo bar", "föo", "x" * 65]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_package_names(name: str) -> None:
    check_package_name(name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_package_names(name: str) -> None:
    with pytest.raises(InvalidPackage, match=r"package name .* is not valid"):
        check_package_name(name)


def test_the_cep_26_regex_is_anchored() -> None:
    assert PACKAGE_NAME_RE.match("foo")
    assert not PACKAGE_NAME_RE.match("foo!")
    assert not PACKAGE_NAME_RE.match("Foo")


@pytest.mark.parametrize("version", ["1", "1.0", "1.0.0", "2!1.0", "1.0+local", "1.0.post1", "1.0rc1", "1_2", "abc"])
def test_good_versions(version: str) -> None:
    check_version(version)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("", "is not valid"),
        ("1-2", "is not valid"),
        ("1.0A", "is not valid"),
        ("1.0 ", "is not valid"),
        ("1" * 65, "is not valid"),
        ("1..2", "is not a conda version"),
        (".1", "is not a conda version"),
        ("1.", "is not a conda version"),
        ("1!2!3", "is not a conda version"),
    ],
)
def test_bad_versions(version: str, message: str) -> None:
    with pytest.raises(InvalidPackage, match=f"version .* {message}"):
        check_version(version)


@pytest.mark.parametrize("build", ["0", "py_0", "h1234abc_0", "pyhd8ed1ab_1", "cuda12.0+1", "B" * 64])
def test_good_builds(build: str) -> None:
    check_build(build)


@pytest.mark.parametrize("build", ["", "h0-1", "b!ld", "b ld", "b/ld", "b" * 65])
def test_bad_builds(build: str) -> None:
    with pytest.raises(InvalidPackage, match=r"build string .* is not valid"):
        check_build(build)


@pytest.mark.parametrize("subdir", ["noarch", "linux-64", "linux-aarch64", "osx-arm64", "win-64", "emscripten-wasm32"])
def test_known_subdirs(subdir: str) -> None:
    check_subdir(subdir)
    assert is_subdir(subdir)
    assert subdir in KNOWN_SUBDIRS


@pytest.mark.parametrize("subdir", ["", "linux-999", "foo", "Linux-64", "noarch/", "linux"])
def test_unknown_subdirs(subdir: str) -> None:
    with pytest.raises(InvalidPackage, match="is not a conda platform or noarch"):
        check_subdir(subdir)
    assert not is_subdir(subdir)


@pytest.mark.parametrize(
    ("filename", "parts"),
    [
        ("foo-1.0-0.conda", ("foo", "1.0", "0", ".conda")),
        ("foo-bar-1.0-py_0.tar.bz2", ("foo-bar", "1.0", "py_0", ".tar.bz2")),
        ("r-base-4.3.1-h0_2.conda", ("r-base", "4.3.1", "h0_2", ".conda")),
    ],
)
def test_parse_filename(filename: str, parts: tuple[str, str, str, str]) -> None:
    parsed = parse_filename(filename)
    assert (parsed.name, parsed.version, parsed.build, parsed.extension) == parts
    assert str(parsed) == filename
    assert parsed.stem == filename[: -len(parts[3])]


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("foo-1.0-0.zip", r"must end in \.conda or \.tar\.bz2"),
        ("foo-1.0-0.tar.gz", r"must end in \.conda or \.tar\.bz2"),
        ("foo-1.0-0", r"must end in \.conda or \.tar\.bz2"),
        ("foo-1.0.conda", "not of the form name-version-build"),
        ("-1.0-0.conda", "not of the form name-version-build"),
        ("foo--0.conda", "not of the form name-version-build"),
        ("../foo-1.0-0.conda", "not a plain file name"),
        ("a/foo-1.0-0.conda", "not a plain file name"),
        ("a\\foo-1.0-0.conda", "not a plain file name"),
        (".foo-1.0-0.conda", "not a plain file name"),
        ("f" * (MAX_FILENAME - 11) + "-1.0-0.conda", "characters long"),
        ("Foo-1.0-0.conda", "package name 'Foo' is not valid"),
        ("foo-1..0-0.conda", "is not a conda version"),
        ("foo-1.0-b!d.conda", "build string 'b!d' is not valid"),
    ],
)
def test_bad_filenames(filename: str, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        parse_filename(filename)


def test_split_extension() -> None:
    assert split_extension("a-1-0.tar.bz2") == ("a-1-0", ".tar.bz2")
    assert split_extension("a-1-0.conda") == ("a-1-0", ".conda")
    with pytest.raises(InvalidPackage):
        split_extension("a-1-0.tar")


def test_filename_is_a_value() -> None:
    assert Filename("a", "1", "0", ".conda") == parse_filename("a-1-0.conda")


@pytest.mark.parametrize("name", ["my-channel", "conda_forge", "a.b", "_x", "0", "c" * 128])
def test_good_channel_names(name: str) -> None:
    check_channel_name(name)


@pytest.mark.parametrize("name", ["", "My", "-x", ".x", "a/b", "a b", "c" * 129])
def test_bad_channel_names(name: str) -> None:
    with pytest.raises(InvalidInput, match="is not valid"):
        check_channel_name(name)


@pytest.mark.parametrize("name", ["api", "t", "static", "health", "noarch", "linux-64", "osx-arm64", "conda", "label"])
def test_reserved_channel_names(name: str) -> None:
    assert name in RESERVED_CHANNEL_NAMES
    with pytest.raises(InvalidInput, match="is reserved by the server"):
        check_channel_name(name)


def test_every_subdir_is_reserved_as_a_channel_name() -> None:
    assert KNOWN_SUBDIRS <= RESERVED_CHANNEL_NAMES
