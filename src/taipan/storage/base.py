"""The storage port: only the operations Taipan's use-cases call.

Keys are ``/``-separated relative paths (``channel/subdir/file``). Adapters translate
their vendor's errors: a missing object is ``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

STAGING_PREFIX = ".staging/"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified_ns: int
    """When the object was last written, nanoseconds since the epoch."""


class Writer(Protocol):
    """Bytes going into one object; nothing is visible at the key until ``close``."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> ObjectInfo: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    parallel_requests: int
    """How many requests (moves, say) are worth having in flight at once: 1 where each is a
    cheap local call, more where each is a round trip (an object store)."""

    def writer(self, key: str) -> Writer:
        """Start writing ``key``; an existing object is replaced when the writer closes."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A seekable binary reader; the caller closes it."""
        ...

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` (inclusive) to ``end`` (exclusive), in chunks."""
        ...

    def stat(self, key: str) -> ObjectInfo | None: ...

    def move(self, src: str, dst: str) -> ObjectInfo:
        """Make ``src``'s bytes appear at ``dst`` (replacing it at once), and remove ``src``."""
        ...

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[ObjectInfo]:
        """Write several small objects at once, each replaced at once as a writer's close would;
        their infos, in the order given. Not atomic as a whole: on failure some may be written."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object; a missing one is not an error."""
        ...

    def delete_many(self, keys: Sequence[str]) -> None:
        """:meth:`delete` of several objects, in as few requests as the store allows."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with ``prefix`` (which ends in ``/``)."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in no particular order."""
        ...

    def check(self) -> None:
        """Raise if the storage cannot be used right now."""
        ...

    def remove_partial_writes(self, before_ns: int) -> int:
        """Remove what writers never closed nor aborted left (a process killed mid-write):
        those last written (or, where the store knows no better, begun) before ``before_ns``.
        Returns how many went. Writers still in progress and younger are left alone."""
        ...


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"bad storage key {key!r}")
    return key
