"""Objects a transaction not yet committed has placed, and those its commit leaves unreferenced.

New bytes never go to a key a committed record points at (``objects.next_key``), so
nothing here overwrites what is being served: if the transaction fails the new objects
are deleted, and once it commits the replaced ones are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from taipan.packages import objects
from taipan.storage.base import ObjectInfo, Storage

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Placement:
    """One file to put at ``key``: from a staged object, or from bytes held in memory."""

    key: str
    staged_key: str | None
    data: bytes | None = None
    attestation: str | None = None
    """The staged key of a Sigstore bundle to put next to it (None: make sure there is none)."""


@dataclass(frozen=True)
class Placed:
    info: ObjectInfo
    attested: bool


class Moves:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._placed: list[str] = []
        self._retired: list[str] = []

    def place_all(self, placements: Sequence[Placement]) -> dict[str, Placed]:
        """Put each file (and its attestation) in place: as many at once as the storage is worth asking at once."""
        for placement in placements:
            self._placed += [placement.key, objects.attestation_of(placement.key)]
        placed = self._each(self._place, placements)
        return {p.key: done for p, done in zip(placements, placed, strict=True)}

    def _place(self, placement: Placement) -> Placed:
        if placement.data is not None:
            writer = self.storage.writer(placement.key)
            try:
                writer.write(placement.data)
            except BaseException:
                writer.abort()
                raise
            info = writer.close()
        else:
            assert placement.staged_key is not None
            info = self.storage.move(placement.staged_key, placement.key)
        target = objects.attestation_of(placement.key)
        if placement.attestation is None:
            # A crash's leftover there would be taken for this file's bundle by a rebuild.
            self.storage.delete(target)
            return Placed(info, False)
        self.storage.move(placement.attestation, target)
        return Placed(info, True)

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.storage.parallel_requests <= 1 or len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(min(self.storage.parallel_requests, len(items))) as pool:
            return list(pool.map(work, items))

    def retire(self, key: str) -> None:
        """Delete the object at ``key`` (and its attestation) once the commit no longer points at it."""
        self._retired += [key, objects.attestation_of(key)]

    def undo(self) -> None:
        self._each(self.storage.delete, list(reversed(self._placed)))

    def done(self) -> None:
        self._each(self.storage.delete, self._retired)
