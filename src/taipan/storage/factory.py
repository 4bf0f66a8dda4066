"""Pick a storage adapter from a URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from taipan.storage.base import Storage
from taipan.storage.local import LocalStorage
from taipan.storage.memory import MemoryStorage


def storage_from_url(url: str) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme == "memory":
        return MemoryStorage()
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path (s3:// comes with scale-out support)")
