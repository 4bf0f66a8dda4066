"""The index files of a subdir, built on first request after a change and kept in memory.

Cost model (N = records in the subdir, K = package names, B = records per block, ~1k):
- an upload or delete writes one row and re-encodes one shard: O(records of that name);
- ``repodata.json.zst`` is kept in blocks (taipan.indexing.blocks) and brought up to date
  once per revision per process from the file names each revision's log names: the
  blocks they fall in are read again and recompressed, O(B) per changed file; then the
  frames are joined, O(compressed size). Built whole, O(N), only by a process that has
  none yet or is > LOG_KEEP revisions behind;
- ``repodata.json`` is the ``.zst`` decompressed (~1 GB/s), only when asked for, and held
  only up to ``hold_plain`` bytes: a larger one (conda-forge's linux-64 is ~250 MB) is
  decompressed from the held ``.zst`` as it is sent (:class:`Streamed`), so a process's
  memory stays near the size of the ``.zst``; ``.bz2`` compresses that, only when asked
  for: never on the path of a ``.zst`` or shard request;
- the shard index is patched once per revision per process from the pointer changes each
  revision recorded (taipan.indexing.state): O(names changed) entries patched, then the
  index's pieces joined and compressed (zstd level 1, ~1.8 ms per 10k names); read whole,
  O(K), only by a process that has none yet or is > LOG_KEEP behind;
- a shard is fetched by digest and never changes;
- a conditional request that matches answers 304 from one indexed row read: O(1).
Bytes depend only on the database state at a revision, so every process that builds a
revision builds the same bytes, under the same ETag.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.conda.names import DEFAULT_LABEL
from taipan.conda.repodata import (
    BLOCK_RECORDS,
    blocked_zst,
    compress_bz2,
    compress_bz2_chunks,
    content_size,
    decompress,
    decompress_chunks,
)
from taipan.conda.shards import ShardIndex
from taipan.db.engine import Database
from taipan.db.models import Channel, ShardBlob, ShardPointer, Subdir
from taipan.indexing import blocks, shared
from taipan.indexing.cache import BuildCache
from taipan.indexing.state import changes_between
from taipan.metrics import Metrics
from taipan.settings import HOLD_PLAIN

Kind = Literal["repodata.json", "repodata.json.zst", "repodata.json.bz2", "repodata_shards.msgpack.zst"]
INDEX_FILES: tuple[Kind, ...] = (
    "repodata.json",
    "repodata.json.zst",
    "repodata.json.bz2",
    "repodata_shards.msgpack.zst",
)
# Bump when the rendering changes, so ETags from an older Taipan never match new bytes.
FORMAT_VERSION = 5  # 2: the shard index at zstd level 3; 3: repodata.json.zst in blocks; 4: index at 1; 5: at -1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubdirState:
    id: int
    channel: str
    name: str
    epoch: str
    revision: int
    updated_ms: int
    channel_id: int
    private: bool
    channel_created_ms: int
    label: str = DEFAULT_LABEL
    """Which label view of the subdir (every label has its own index files)."""

    def etag(self, kind: str) -> str:
        view = "" if self.label == DEFAULT_LABEL else f"-{self.label}"
        return f'"{self.epoch}-{self.revision}-{FORMAT_VERSION}-{INDEX_FILES.index(kind)}{view}"'


@dataclass
class _IndexModel:
    """A shard index as of one revision of a subdir's label view, ready to be patched."""

    epoch: str
    revision: int
    index: ShardIndex


@dataclass(frozen=True)
class Streamed:
    """A ``repodata.json`` too large to hold: decompressed from its ``.zst`` as it is sent."""

    zst: bytes
    size: int

    def chunks(self) -> Iterator[bytes]:
        return decompress_chunks(self.zst)


Body = bytes | Streamed
"""What an index file's answer sends."""


def _artifact_size(artifact: tuple[SubdirState, bytes]) -> int:
    return len(artifact[1]) + 256


class IndexFiles:
    def __init__(
        self,
        db: Database,
        max_bytes: int,
        zstd_level: int,
        metrics: Metrics | None = None,
        block_records: int = BLOCK_RECORDS,
        share: bool = True,
        hold_plain: int = HOLD_PLAIN,
    ) -> None:
        """``share``: load and publish blocks through the database (taipan.indexing.shared);
        ``hold_plain``: the largest repodata.json held decompressed (larger ones are :class:`Streamed`)."""
        self._db = db
        self._hold_plain = hold_plain
        self._share = share
        self._block_records = block_records
        self._blocks: dict[tuple[int, str], blocks.BlockModel] = {}
        self._metrics = metrics or Metrics()
        self._zstd_level = zstd_level
        self._cache: BuildCache[tuple[SubdirState, bytes]] = BuildCache(max_bytes, _artifact_size)
        self._shards: BuildCache[bytes] = BuildCache(max_bytes // 4, len)
        self._models: dict[tuple[int, str], _IndexModel] = {}
        self._models_lock = threading.Lock()
        self._unpublished: dict[tuple[int, str], blocks.BlockModel] = {}
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="taipan-publish")

    def settle(self) -> None:
        """Wait until the blocks built so far are published (tests; shutdown)."""
        self._publisher.submit(lambda: None).result()

    def close(self) -> None:
        self._publisher.shutdown(wait=True)

    def _publish_later(self, key: tuple[int, str], model: blocks.BlockModel) -> None:
        """Publish (taipan.indexing.shared) after the answer: only the newest model of a view waits."""
        with self._models_lock:
            waiting = key in self._unpublished
            self._unpublished[key] = shared.snapshot(model)
        if not waiting:
            self._publisher.submit(self._publish, key)

    def _publish(self, key: tuple[int, str]) -> None:
        with self._models_lock:
            model = self._unpublished.pop(key)
        try:
            with self._metrics.building_index("publish"):
                shared.publish(self._db, key[0], key[1], model, self._zstd_level, self._block_records)
        except Exception:  # another process publishes, or this one builds again: never a wrong answer
            log.warning("could not publish the blocks of subdir %s label %s", key[0], key[1], exc_info=True)

    def state(self, channel: str, subdir: str, label: str = DEFAULT_LABEL) -> SubdirState | None:
        with self._db.read() as session:
            return _read_state(session, channel, subdir, label)

    def build(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, bytes]:
        """The bytes of ``kind`` at ``state``'s revision or newer, and the state they are of."""

        def fresh(value: tuple[SubdirState, bytes]) -> bool:
            built = value[0]
            return built.epoch == state.epoch and built.revision >= state.revision

        return self._cache.get_or_build((state.id, state.label, kind), fresh, lambda: self._measured(state, kind))

    def cached(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, bytes] | None:
        """What :meth:`build` would return, if it is built already; never builds (for the event loop)."""
        value = self._cache.get((state.id, state.label, kind))
        if value is None or value[0].epoch != state.epoch or value[0].revision < state.revision:
            return None
        return value

    def body(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, Body]:
        """What an answer with ``kind`` sends: :meth:`build`'s bytes, or a large repodata.json streamed."""
        if kind == "repodata.json":
            streamed = self._streamed(self.build(state, "repodata.json.zst"))
            if streamed is not None:
                return streamed
        return self.build(state, kind)

    def cached_body(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, Body] | None:
        """What :meth:`body` would return, if nothing needs building; never builds (for the event loop)."""
        if kind == "repodata.json":
            zst = self.cached(state, "repodata.json.zst")
            streamed = None if zst is None else self._streamed(zst)
            if streamed is not None:
                return streamed
        return self.cached(state, kind)

    def _streamed(self, zst: tuple[SubdirState, bytes]) -> tuple[SubdirState, Streamed] | None:
        """repodata.json sent decompressed from the .zst as it goes, if it is too large to hold."""
        size = content_size(zst[1])
        return (zst[0], Streamed(zst[1], size)) if size > self._hold_plain else None

    def cached_shard(self, state: SubdirState, digest: bytes) -> bytes | None:
        """A shard if it is in memory already; never reads the database."""
        return self._shards.get((state.id, state.epoch, digest))

    def _measured(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, bytes]:
        with self._metrics.building_index(kind):
            return self._build(state, kind)

    def _build(self, state: SubdirState, kind: Kind) -> tuple[SubdirState, bytes]:
        if kind == "repodata.json":
            built, zst = self.build(state, "repodata.json.zst")
            return built, decompress(zst)
        if kind == "repodata.json.bz2":
            built, raw = self.body(state, "repodata.json")
            return built, compress_bz2(raw) if isinstance(raw, bytes) else compress_bz2_chunks(raw.chunks())
        with self._db.snapshot() as session:
            # The revision and the rows come from one snapshot, so bytes always match their ETag.
            now = _read_state(session, state.channel, state.name, state.label)
            built = state if now is None or now.epoch != state.epoch else now
            if kind == "repodata_shards.msgpack.zst":
                return built, self._shard_index(session, built)
            return built, self._repodata_zst(session, built)

    def _repodata_zst(self, session: Session, state: SubdirState) -> bytes:
        """repodata.json.zst at ``state``'s revision: the blocks last built here, patched, if they can be."""
        key = (state.id, state.label)
        with self._models_lock:
            model = self._blocks.pop(key, None)  # taken: a failure below leaves none half-patched
        level, every = self._zstd_level, self._block_records
        loaded = None
        if self._share:
            loaded = shared.load(session, state.id, state.label, state.epoch, state.revision, level, every, model)
        if loaded is not None:
            model = loaded
        else:
            if (
                model is None
                or model.epoch != state.epoch
                or not blocks.patch(session, model, state.id, state.label, state.revision, level, every)
            ):
                model = blocks.build(session, state.id, state.label, state.epoch, state.revision, level, every)
            if self._share:
                self._publish_later(key, model)
        data, model.blocks = blocked_zst(state.name, model.blocks)  # the pieces kept are views of data
        with self._models_lock:
            if len(self._blocks) >= MAX_MODELS:
                self._blocks.clear()
            self._blocks[key] = model
        return data

    def _shard_index(self, session: Session, state: SubdirState) -> bytes:
        """The shard index at ``state``'s revision: the last one built here, patched, if it can be."""
        key = (state.id, state.label)
        with self._models_lock:
            model = self._models.pop(key, None)  # taken: a failure below leaves none half-patched
        if model is None or model.epoch != state.epoch or not _patch(session, model, state):
            model = _IndexModel(state.epoch, state.revision, ShardIndex(state.name, _pointers(session, state)))
        data = model.index.encode()
        with self._models_lock:
            if len(self._models) >= MAX_MODELS:
                self._models.clear()
            self._models[key] = model
        return data

    def shard(self, state: SubdirState, digest: bytes) -> bytes | None:
        """A shard by content digest; shards never change, so a cached one is always good."""
        key = (state.id, state.epoch, digest)
        cached = self._shards.get(key)
        if cached is not None:
            return cached
        with self._db.read() as session:
            data = session.scalar(
                select(ShardBlob.data).where(ShardBlob.subdir_id == state.id, ShardBlob.digest == digest)
            )
        if data is None or hashlib.sha256(data).digest() != digest:
            return None  # other rows of the table (pointer-change logs) are not shards
        self._shards.put(key, data)
        return data


MAX_MODELS = 1024


def _pointers(session: Session, state: SubdirState) -> dict[str, bytes]:
    rows = session.execute(
        select(ShardPointer.name, ShardPointer.digest).where(
            ShardPointer.subdir_id == state.id, ShardPointer.label == state.label
        )
    )
    return {name: digest for name, digest in rows}


def _patch(session: Session, model: _IndexModel, state: SubdirState) -> bool:
    """Bring ``model`` to ``state``'s revision from the revisions' pointer-change logs
    (False: model unusable, see :func:`changes_between`)."""
    logs = changes_between(session, state.id, model.revision, state.revision)
    if logs is None:
        return False
    for log in logs:
        for change in log:
            if change.label != state.label:
                continue
            if change.digest is None:
                model.index.remove(change.name)
            else:
                model.index.set(change.name, change.digest)
    model.revision = state.revision
    return True


def _read_state(session: Session, channel: str, subdir: str, label: str) -> SubdirState | None:
    row = session.execute(
        select(
            Subdir.id, Subdir.epoch, Subdir.revision, Subdir.updated_ms, Channel.id, Channel.private, Channel.created_ms
        )
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(Channel.name == channel, Subdir.name == subdir)
    ).first()
    if row is None:
        return None
    sid, epoch, revision, updated, cid, private, created = row
    return SubdirState(sid, channel, subdir, epoch, revision, updated, cid, private, created, label)
