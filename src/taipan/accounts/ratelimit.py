"""Slow down guessing: count failed logins and bad keys per client address.

Per process (several processes each keep their own count, so the effective limit is
that many times higher); a sliding window of failure times per address.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from taipan.errors import RateLimited

MAX_TRACKED = 100_000


class FailureLimiter:
    def __init__(self, limit: int, window_s: float) -> None:
        self._limit = limit
        self._window = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Raise RateLimited while ``address`` has too many recent failures."""
        with self._lock:
            times = self._recent(address, time.monotonic())
            if times is not None and len(times) >= self._limit:
                retry = max(1, int(times[0] + self._window - time.monotonic()) + 1)
                raise RateLimited(
                    f"too many failed sign-ins or bad keys from your address; try again in {retry} s", retry
                )

    def failed(self, address: str) -> None:
        with self._lock:
            now = time.monotonic()
            times = self._recent(address, now)
            if times is None:
                if len(self._failures) >= MAX_TRACKED:
                    self._failures.clear()  # bounded memory beats perfect memory under a flood
                times = self._failures[address] = deque()
            times.append(now)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] < now - self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times
