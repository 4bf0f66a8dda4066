"""The one owner of staged objects: it makes their keys, and removes the ones nobody consumed.

An upload's bytes are written to a staging key (``.staging/<hex>``) before they are
checked, and ingest moves them to their final key. Whatever is not moved must go: a
:class:`StagingScope` (one per request or job) remembers every key it handed out and,
when it closes — on success, on a refusal, on any exception — aborts the writers still
open and deletes the staged objects that were not consumed.

A process killed mid-upload closes no scope. Its leftovers (staged objects, and the
storage's own partial writes: a local folder's ``.tmp`` files, an S3 bucket's
unfinished multipart uploads) are removed by :meth:`Staging.sweep`, which every server
process runs at start and then periodically. Several processes (and hosts) may share
one storage, so a sweep cannot know which objects belong to a live upload; it goes by
age instead. Every upload is bounded in time (``upload_timeout``: the receive is cut
off past it), so nothing a live upload holds is older than that; the sweep removes only
what is older than twice the bound (:data:`AGE_FACTOR`), which leaves room for the
checks after the body arrived and for clocks that disagree between hosts.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType

from taipan.errors import InvalidInput
from taipan.storage.base import STAGING_PREFIX, Storage, Writer

log = logging.getLogger(__name__)

AGE_FACTOR = 2
"""Leftovers older than this many upload timeouts are removed."""
SWEEP_INTERVAL_MAX_S = 600


def staging_key(tag: str = "") -> str:
    """A fresh staging key, the only shape of one (``tag`` names what it is for, e.g. ``replaced-``).

    Bulk import and the replaced-file backups of a forced upload make theirs here too, so
    every staged object is one the sweep knows."""
    return f"{STAGING_PREFIX}{tag}{uuid.uuid4().hex}"


class UploadTooSlow(InvalidInput):
    """The upload took longer than ``upload_timeout``; what it sent is dropped."""


@dataclass(frozen=True)
class Swept:
    staged: int
    partial: int


class Staging:
    """Staged objects in one storage, for uploads bounded by ``upload_timeout_s``."""

    def __init__(self, storage: Storage, upload_timeout_s: float) -> None:
        self.storage = storage
        self.upload_timeout_s = upload_timeout_s

    @property
    def max_age_s(self) -> float:
        return AGE_FACTOR * self.upload_timeout_s

    @property
    def sweep_interval_s(self) -> float:
        return max(1.0, min(SWEEP_INTERVAL_MAX_S, self.upload_timeout_s / 2))

    def scope(self) -> StagingScope:
        return StagingScope(self.storage, time.monotonic() + self.upload_timeout_s, self.upload_timeout_s)

    def sweep(self, now_ns: int | None = None) -> Swept:
        """Remove staged objects and partial writes older than :attr:`max_age_s`."""
        return sweep_storage(self.storage, self.max_age_s, now_ns)


def sweep_storage(storage: Storage, older_than_s: float, now_ns: int | None = None) -> Swept:
    cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(older_than_s * 1e9)
    stale = [info.key for info in storage.list(STAGING_PREFIX) if info.modified_ns < cutoff]
    for key in stale:
        storage.delete(key)
    try:
        partial = storage.remove_partial_writes(cutoff)
    except Exception:  # e.g. credentials that may not list multipart uploads: the staged objects still went
        log.warning("could not remove partial writes; the bucket's lifecycle rule must", exc_info=True)
        partial = 0
    if stale or partial:
        log.info("removed %d staged leftovers and %d partial writes", len(stale), partial)
    return Swept(len(stale), partial)


@dataclass
class _Held:
    key: str
    writer: Writer | None
    consumed: bool = False


@dataclass
class StagingScope:
    """The staged objects of one upload; closing it removes every one not consumed."""

    storage: Storage
    deadline: float
    """``time.monotonic()`` past which the upload is cut off."""
    timeout_s: float
    _held: dict[str, _Held] = field(default_factory=dict)

    def writer(self) -> tuple[str, Writer]:
        """A new staging key and a writer for it, both owned by this scope."""
        key = staging_key()
        writer = self.storage.writer(key)
        self._held[key] = _Held(key, writer)
        return key, writer

    def put(self, data: bytes) -> str:
        """Stage ``data`` whole (small objects: an attestation)."""
        key, writer = self.writer()
        writer.write(data)
        writer.close()
        return key

    def consumed(self, key: str) -> None:
        """``key`` was moved into place (by ingest): it is no longer this scope's to remove."""
        held = self._held.get(key)
        if held is not None:
            held.consumed = True

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def too_slow(self) -> UploadTooSlow:
        return UploadTooSlow(f"the upload took longer than the limit of {self.timeout_s:g} seconds")

    def close(self) -> None:
        """Abort open writers and delete what was not consumed; every step is tried."""
        held, self._held = list(self._held.values()), {}
        for item in held:
            if item.consumed:
                continue
            try:
                if item.writer is not None:
                    item.writer.abort()  # harmless after close
                self.storage.delete(item.key)
            except Exception:
                log.warning("could not remove staged object %s", item.key, exc_info=True)

    def __enter__(self) -> StagingScope:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
