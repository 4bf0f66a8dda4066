"""Who may do what in a channel.

Outsiders learn nothing about a private channel: to an anonymous caller a private
channel and a missing one both answer "authentication required" (401); to a signed-in
caller without access both answer "does not exist" (404). Only callers who can read a
channel may learn that they cannot do more (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.db.models import Channel, ChannelMember
from taipan.errors import Forbidden, NotFound, Unauthenticated

ANONYMOUS_MESSAGE = "authentication required: send an API key (Authorization: Bearer <key>) or sign in"


@dataclass(frozen=True)
class ChannelRef:
    id: int
    name: str
    private: bool
    created_ms: int


def effective_role(session: Session, principal: Principal | None, channel: ChannelRef) -> Role | None:
    """The highest role the caller has in the channel, after the credential's own limits."""
    role: Role | None = None
    if principal is not None:
        if principal.user_is_admin:
            role = Role.OWNER  # narrowed below, like any role, by the credential's limits
        elif principal.publisher:
            role = (principal.channel_caps or {}).get(channel.id)
        elif principal.user_id is not None:
            member = session.scalar(
                select(ChannelMember.role).where(
                    ChannelMember.channel_id == channel.id, ChannelMember.user_id == principal.user_id
                )
            )
            role = Role.parse(member) if member else None
        role = principal.limit(channel.id, role)
    if not channel.private:
        role = max(role or Role.VIEWER, Role.VIEWER)
    return role


def refuse_publisher(principal: Principal | None, what: str) -> None:
    """Keys minted for trusted publishers upload and read their channels; nothing else."""
    if principal is not None and principal.publisher:
        raise Forbidden(f"a trusted publisher's upload key cannot {what}")


def hidden(principal: Principal | None, name: str) -> Exception:
    """The error for a channel the caller may not know about: the same whether it exists or not."""
    if principal is None:
        return Unauthenticated(ANONYMOUS_MESSAGE)
    return NotFound(f"channel {name!r} does not exist")


def find(session: Session, name: str) -> ChannelRef | None:
    row = session.execute(
        select(Channel.id, Channel.name, Channel.private, Channel.created_ms).where(Channel.name == name)
    ).first()
    return ChannelRef(*row) if row else None


def require(session: Session, principal: Principal | None, name: str, needed: Role) -> ChannelRef:
    """The channel, if the caller has at least ``needed`` in it; else the right error."""
    channel = find(session, name)
    if channel is None:
        raise hidden(principal, name)
    check(session, principal, channel, needed)
    return channel


def check(session: Session, principal: Principal | None, channel: ChannelRef, needed: Role) -> Role:
    role = effective_role(session, principal, channel)
    if role is None:
        raise hidden(principal, channel.name)
    if role < needed:
        if principal is None:
            raise Unauthenticated(ANONYMOUS_MESSAGE)
        raise Forbidden(f"this needs the {needed.label} role in channel {channel.name!r}; you have {role.label}")
    return role
