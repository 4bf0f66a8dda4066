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
        """Put each file (and its attestation) in place: as many at once as the storage is worth asking at once.

        Files held in memory go in with one ``put_many``; staged ones are moved. Where a
        file comes without an attestation, whatever lies at its attestation's key is
        deleted (all with one ``delete_many``): a crash's leftover there would be taken
        for this file's bundle by a rebuild."""
        for placement in placements:
            self._placed += [placement.key, objects.attestation_of(placement.key)]
        held = [(p.key, p.data) for p in placements if p.data is not None]
        infos = {key: info for (key, _), info in zip(held, self.storage.put_many(held), strict=True)}
        staged = [p for p in placements if p.data is None]
        infos.update(zip([p.key for p in staged], self._each(self._move, staged), strict=True))
        bundles = [(p.attestation, objects.attestation_of(p.key)) for p in placements if p.attestation is not None]
        self._each(lambda pair: self.storage.move(*pair), bundles)
        self.storage.delete_many([objects.attestation_of(p.key) for p in placements if p.attestation is None])
        return {p.key: Placed(infos[p.key], p.attestation is not None) for p in placements}

    def _move(self, placement: Placement) -> ObjectInfo:
        assert placement.staged_key is not None, "a placement is staged or held"
        return self.storage.move(placement.staged_key, placement.key)

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.storage.parallel_requests <= 1 or len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(min(self.storage.parallel_requests, len(items))) as pool:
            return list(pool.map(work, items))

    def retire(self, key: str) -> None:
        """Delete the object at ``key`` (and its attestation) once the commit no longer points at it."""
        self._retired += [key, objects.attestation_of(key)]

    def undo(self) -> None:
        self.storage.delete_many(list(reversed(self._placed)))

    def done(self) -> None:
        self.storage.delete_many(self._retired)
