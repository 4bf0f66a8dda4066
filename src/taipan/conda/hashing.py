"""Hash a stream once for everything a record needs: sha256, md5 and size."""

from __future__ import annotations

import hashlib

from taipan.conda.records import Hashes


class StreamHasher:
    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sha256.update(data)
        self._md5.update(data)
        self.size += len(data)

    def result(self) -> Hashes:
        return Hashes(sha256=self._sha256.hexdigest(), md5=self._md5.hexdigest(), size=self.size)
