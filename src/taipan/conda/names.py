"""Identifiers as CEP 26 defines them: package names, versions, builds, subdirs, channels, files."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rattler import Subdir, Version

from taipan.errors import InvalidInput, InvalidPackage

PACKAGE_NAME_RE = re.compile(r"^(([a-z0-9])|([a-z0-9_](?!_)))[._-]?([a-z0-9]+(\.|-|_|$))*$")
VERSION_CHARS_RE = re.compile(r"^[0-9a-z_.+!]+$")
BUILD_RE = re.compile(r"^[a-zA-Z0-9_.+]+$")
CHANNEL_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
LABEL_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_\-./]*$")
MAX_FIELD = 64
MAX_FILENAME = 211
MAX_CHANNEL = 128
EXTENSIONS = (".conda", ".tar.bz2")
KNOWN_SUBDIRS = frozenset(str(p) for p in Subdir.all())

# Path words the server answers itself; a channel of that name would be unreachable.
RESERVED_CHANNEL_NAMES = frozenset(
    {
        "api",
        "t",
        "static",
        "health",
        "metrics",
        "docs",
        "redoc",
        "openapi.json",
        "conda",
        "label",
        "login",
        "logout",
        "signup",
        "settings",
        "admin",
        "channels",
        "packages",
        "search",
        "ui",
        "favicon.ico",
        "robots.txt",
        "noarch",
    }
    | KNOWN_SUBDIRS
)


@dataclass(frozen=True)
class Filename:
    """A package file name split into its parts: ``name-version-build.ext``."""

    name: str
    version: str
    build: str
    extension: str

    def __str__(self) -> str:
        return f"{self.name}-{self.version}-{self.build}{self.extension}"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


def split_extension(filename: str) -> tuple[str, str]:
    for ext in EXTENSIONS:
        if filename.endswith(ext):
            return filename[: -len(ext)], ext
    raise InvalidPackage(f"{filename!r} is not a conda package: the name must end in .conda or .tar.bz2")


def parse_filename(filename: str) -> Filename:
    """Split and check a package file name; raise InvalidPackage saying what is wrong."""
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise InvalidPackage(f"{filename!r} is not a plain file name")
    if len(filename) > MAX_FILENAME:
        raise InvalidPackage(f"file name is {len(filename)} characters long; at most {MAX_FILENAME} are allowed")
    stem, ext = split_extension(filename)
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidPackage(f"{filename!r} is not of the form name-version-build{ext}")
    name, version, build = parts
    check_package_name(name)
    check_version(version)
    check_build(build)
    return Filename(name, version, build, ext)


def check_package_name(name: str) -> None:
    if len(name) > MAX_FIELD or not PACKAGE_NAME_RE.match(name):
        raise InvalidPackage(
            f"package name {name!r} is not valid: lower-case letters, digits and single . - _ "
            f"separators, at most {MAX_FIELD} characters (CEP 26)"
        )


def check_version(version: str) -> None:
    if len(version) > MAX_FIELD or not VERSION_CHARS_RE.match(version):
        raise InvalidPackage(
            f"version {version!r} is not valid: digits, lower-case letters and . _ + ! only, "
            f"at most {MAX_FIELD} characters (CEP 26)"
        )
    try:
        Version(version)
    except Exception as exc:  # rattler raises its own exception types
        raise InvalidPackage(f"version {version!r} is not a conda version: {exc}") from exc


def check_build(build: str) -> None:
    if len(build) > MAX_FIELD or not BUILD_RE.match(build):
        raise InvalidPackage(
            f"build string {build!r} is not valid: letters, digits and _ . + only, at most {MAX_FIELD} characters"
        )


def check_subdir(subdir: str) -> None:
    if subdir not in KNOWN_SUBDIRS:
        raise InvalidPackage(f"subdir {subdir!r} is not a conda platform or noarch")


def is_subdir(word: str) -> bool:
    return word in KNOWN_SUBDIRS


DEFAULT_LABEL = "main"
MAX_LABEL = 128


def check_label(label: str) -> None:
    """CEP 26 label names; ``nolabel`` is reserved for files with no other label."""
    if len(label) > MAX_LABEL or not LABEL_RE.match(label) or label == "nolabel":
        raise InvalidInput(
            f"label {label!r} is not valid: start with a letter; then letters, digits, '_', '-', '.', '/'; "
            f"at most {MAX_LABEL} characters ('nolabel' is reserved)"
        )
    if label.rsplit("/", 1)[-1] in KNOWN_SUBDIRS or label.split("/", 1)[0] in ("shards",):
        raise InvalidInput(f"label {label!r} would be mistaken for a subdir in URLs; choose another")


def check_channel_name(name: str) -> None:
    """Raise InvalidInput unless ``name`` can be a channel (CEP 26 path component, not a server word)."""
    if not name or len(name) > MAX_CHANNEL or not CHANNEL_RE.match(name):
        raise InvalidInput(
            f"channel name {name!r} is not valid: use lower-case letters, digits, '_', '.' and '-', "
            f"starting with a letter, digit or '_', at most {MAX_CHANNEL} characters"
        )
    if name in RESERVED_CHANNEL_NAMES:
        raise InvalidInput(f"channel name {name!r} is reserved by the server; choose another")
