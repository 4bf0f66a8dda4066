"""What bulk work tells its caller: progress as it goes, and the files it left alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Progress(Protocol):
    """Told how many files there are, then about each one handled (checked, skipped or refused)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Problem:
    """A file that was left alone, and why (``str`` of a domain or OS error)."""

    location: str
    message: str
