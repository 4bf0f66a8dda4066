"""Who is calling, and the roles the model knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum


class Role(IntEnum):
    """Roles in a channel, ordered: each can do what the ones below it can."""

    VIEWER = 1
    """Reads a private channel."""
    CONTRIBUTOR = 2
    """Uploads and deletes packages."""
    OWNER = 3
    """Manages members and settings, transfers and deletes the channel. Exactly one per channel."""

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use viewer, contributor or owner") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, with the limits of the credential it used."""

    user_id: int | None
    username: str
    is_admin: bool
    read_only: bool = False
    channel_caps: Mapping[int, Role] | None = None
    """None: the credential may act in any channel its user may. Else: only these, up to these roles."""
    key_id: int | None = None
    publisher: bool = False
    """A key minted for a trusted publisher (no user): it has exactly its channel caps, nothing more."""
    via: str = "key"
    extra: Mapping[str, str] = field(default_factory=dict)

    def limit(self, channel_id: int, role: Role | None) -> Role | None:
        """``role`` narrowed by this credential's scope."""
        if role is None:
            return None
        if self.channel_caps is not None:
            cap = self.channel_caps.get(channel_id)
            if cap is None:
                return None
            role = min(role, cap)
        if self.read_only:
            role = min(role, Role.VIEWER)
        return role
