"""The read model's shapes: what the web pages are given, and how stored JSON is decoded for them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import orjson
from rattler import Version

from taipan.accounts.principal import Role

T = TypeVar("T")
PER_PAGE = 50
VERSIONS_PER_PAGE = 20
Pending = Callable[[str, str, str], int]
"""Download counts not yet written, by (channel, subdir, filename)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class ChannelCard:
    name: str
    description: str
    private: bool
    avatar_url: str
    role: str | None
    packages: int
    files: int


@dataclass(frozen=True)
class SubdirCount:
    name: str
    files: int


@dataclass(frozen=True)
class ChannelView:
    name: str
    description: str
    private: bool
    avatar_url: str
    created_ms: int
    owner: str | None
    role: Role | None
    """The caller's role (None when anonymous)."""
    subdirs: tuple[SubdirCount, ...]
    labels: tuple[str, ...]

    @property
    def files(self) -> int:
        return sum(s.files for s in self.subdirs)


@dataclass(frozen=True)
class PackageSummary:
    channel: str
    private: bool
    name: str
    latest: str
    subdirs: tuple[str, ...]
    files: int
    summary: str


@dataclass(frozen=True)
class FileRow:
    id: int
    subdir: str
    filename: str
    version: str
    build: str
    build_number: int
    size: int
    sha256: str
    md5: str
    uploaded_ms: int
    uploader: str | None
    downloads: int
    has_attestation: bool = False
    labels: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    license: str = ""


@dataclass(frozen=True)
class VersionRow:
    version: str
    files: tuple[FileRow, ...]

    @property
    def subdirs(self) -> tuple[str, ...]:
        return tuple(sorted({f.subdir for f in self.files}))


@dataclass(frozen=True)
class About:
    summary: str = ""
    description: str = ""
    license: str = ""
    home: str = ""
    dev_url: str = ""
    doc_url: str = ""


@dataclass(frozen=True)
class PackageDetail:
    channel: str
    private: bool
    role: Role | None
    name: str
    latest: FileRow
    about: About
    subdirs: tuple[str, ...]
    files: int
    downloads: int
    versions: Page[VersionRow]


@lru_cache(maxsize=65_536)
def version_key(version: str) -> tuple[int, Any]:
    """Conda's version order; a version rattler cannot parse sorts below every parsed one."""
    try:
        return (1, Version(version))
    except Exception:  # rattler raises its own exception types for malformed versions
        return (0, version)


def json_object(blob: bytes | None) -> dict[str, Any]:
    try:
        value = orjson.loads(blob or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def text(value: object, limit: int = 20_000) -> str:
    if isinstance(value, list):  # conda-build writes some about fields as lists of strings
        value = " ".join(v for v in value if isinstance(v, str))
    return value[:limit] if isinstance(value, str) else ""


def strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
