"""The port through which issuers' signing keys are fetched, and its in-memory fake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from taipan.errors import Unavailable


class JwksSource(Protocol):
    """Where an issuer's current signing keys come from."""

    def fetch(self, issuer: str) -> Mapping[str, Any]:
        """The issuer's JSON Web Key Set (``{"keys": [...]}``), found through its OpenID discovery document.

        Raises :class:`~taipan.errors.Unavailable` when the issuer cannot be reached or
        answers with something that is not a discovery document or key set.
        """
        ...


class StaticJwks:
    """A JwksSource held in memory: tests set or replace an issuer's keys (a rotation) at will."""

    def __init__(self, sets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.sets: dict[str, Mapping[str, Any]] = dict(sets or {})
        self.fetches: list[str] = []

    def fetch(self, issuer: str) -> Mapping[str, Any]:
        self.fetches.append(issuer)
        if issuer not in self.sets:
            raise Unavailable(f"cannot fetch the signing keys of {issuer}")
        return self.sets[issuer]
