"""An in-memory storage for unit tests: the same contract, no disk."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from typing import IO

from taipan.storage.base import ObjectInfo, check_key


class MemoryWriter:
    def __init__(self, store: MemoryStorage, key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        self._buffer.write(data)

    def close(self) -> ObjectInfo:
        return self._store._put(self._key, self._buffer.getvalue())

    def abort(self) -> None:
        self._buffer = io.BytesIO()


class MemoryStorage:
    parallel_requests = 1

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, int]] = {}
        self._lock = threading.Lock()

    def _put(self, key: str, data: bytes) -> ObjectInfo:
        with self._lock:
            self._objects[check_key(key)] = (data, time.time_ns())
        return self._stat(key)

    def _get(self, key: str) -> bytes:
        try:
            return self._objects[check_key(key)][0]
        except KeyError:
            raise FileNotFoundError(key) from None

    def _stat(self, key: str) -> ObjectInfo:
        data, modified = self._objects[key]
        return ObjectInfo(key=key, size=len(data), modified_ns=modified)

    def writer(self, key: str) -> MemoryWriter:
        check_key(key)
        return MemoryWriter(self, key)

    def open(self, key: str) -> IO[bytes]:
        return io.BytesIO(self._get(key))

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        yield self._get(key)[start:end]

    def stat(self, key: str) -> ObjectInfo | None:
        with self._lock:
            return self._stat(key) if check_key(key) in self._objects else None

    def move(self, src: str, dst: str) -> ObjectInfo:
        check_key(dst)  # before src is touched: a refused move must not lose it
        with self._lock:
            try:
                data = self._objects.pop(check_key(src))[0]
            except KeyError:
                raise FileNotFoundError(src) from None
            self._objects[dst] = (data, time.time_ns())
            return self._stat(dst)

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[ObjectInfo]:
        return [self._put(key, data) for key, data in items]

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(check_key(key), None)

    def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete(key)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._objects if k.startswith(prefix)]:
                del self._objects[key]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._lock:
            infos = [self._stat(k) for k in self._objects if k.startswith(prefix)]
        yield from infos

    def check(self) -> None:
        return None

    def remove_partial_writes(self, before_ns: int) -> int:
        return 0  # a writer's bytes live in its own buffer: nothing outlives the process
