"""Who is calling, and the roles the model knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from taipan.errors import Forbidden


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
    """An authenticated caller, with the limits of the credential it used.

    ``user_is_admin`` says what the *user* is; what the *credential* may do with it is
    :attr:`is_admin` (changes) and :attr:`reads_as_admin` (reads). Ask those, never the field.
    """

    user_id: int | None
    username: str
    user_is_admin: bool
    read_only: bool = False
    channel_caps: Mapping[int, Role] | None = None
    """None: the credential may act in any channel its user may. Else: only these, up to these roles."""
    key_id: int | None = None
    publisher: bool = False
    """A key minted for a trusted publisher (no user): it has exactly its channel caps, nothing more."""
    via: str = "key"
    expires_ms: int | None = None
    """When the credential stops working (a key's expiry); None: not before it is revoked."""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def narrowed(self) -> bool:
        """The credential may do less than its user: read-only, channel-scoped, or a publisher's key."""
        return self.read_only or self.channel_caps is not None or self.publisher

    @property
    def is_admin(self) -> bool:
        """Full server administrator rights, changes included: only an administrator's credential
        that is not narrowed. A read-only or channel-scoped key of an administrator is no administrator."""
        return self.user_is_admin and not self.narrowed

    @property
    def reads_as_admin(self) -> bool:
        """May read what administrators read: an administrator's credential that is not channel-scoped
        (a read-only key reads everything its administrator reads, and changes nothing)."""
        return self.user_is_admin and self.channel_caps is None and not self.publisher

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


def require_admin(principal: Principal | None, *, changing: bool, what: str = "this") -> Principal:
    """The caller if it may act as a server administrator; Forbidden otherwise.

    The one check for server-wide administration (users, the audit log, invitations, other
    people's keys): ``changing`` requests need an unnarrowed credential, reads also accept an
    administrator's read-only key.
    """
    allowed = principal is not None and (principal.is_admin if changing else principal.reads_as_admin)
    if principal is None or not allowed:
        if principal is not None and principal.user_is_admin and principal.narrowed:
            raise Forbidden(
                f"{what} needs a server administrator's credential that is neither read-only nor channel-scoped"
            )
        raise Forbidden(f"{what} needs a server administrator")
    return principal
