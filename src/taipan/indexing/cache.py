"""A bounded, thread-safe LRU of built index files, with one builder per key at a time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BuildCache(Generic[V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self._max = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        size = self._size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._total -= self._size_of(old)
            if size > self._max:
                return
            self._items[key] = value
            self._total += size
            while self._total > self._max:
                _, evicted = self._items.popitem(last=False)
                self._total -= self._size_of(evicted)

    def get_or_build(self, key: Hashable, fresh: Callable[[V], bool], build: Callable[[], V]) -> V:
        """The cached value if ``fresh(value)``; otherwise build it, once, even when many ask at once."""
        value = self.get(key)
        if value is not None and fresh(value):
            return value
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            value = self.get(key)
            if value is not None and fresh(value):
                return value
            value = build()
            self.put(key, value)
            return value
