"""Staged uploads that were never finished (a process killed mid-upload) are swept at start."""

from __future__ import annotations

import time

from taipan.storage.base import STAGING_PREFIX, Storage

# Long enough that no live upload is this old; other processes may be staging right now.
STALE_AFTER_S = 24 * 3600


def sweep_staging(storage: Storage, older_than_s: float = STALE_AFTER_S) -> int:
    """Delete staged objects older than ``older_than_s``; return how many went."""
    cutoff = time.time_ns() - int(older_than_s * 1e9)
    stale = [info.key for info in storage.list(STAGING_PREFIX) if info.modified_ns < cutoff]
    for key in stale:
        storage.delete(key)
    return len(stale)
