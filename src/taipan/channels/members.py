"""Channel members: add, change, remove, and hand the channel to a new owner."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.accounts.users import find_user
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import ChannelMember, User
from taipan.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class Member:
    username: str
    role: str


def list_members(db: Database, principal: Principal | None, channel: str) -> list[Member]:
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        rows = session.execute(
            select(User.username, ChannelMember.role)
            .join(ChannelMember, ChannelMember.user_id == User.id)
            .where(ChannelMember.channel_id == ref.id)
            .order_by(User.username)
        ).all()
    order = {r.label: r for r in Role}
    return sorted((Member(u, r) for u, r in rows), key=lambda m: (-order[m.role], m.username))


def set_member(
    db: Database, principal: Principal | None, channel: str, username: str, role: Role, address: str | None = None
) -> Member:
    """Add a member with ``role``, or change a member's role. Owner is given only by transfer."""
    if role == Role.OWNER:
        raise InvalidInput("a channel has exactly one owner: transfer ownership instead")
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        user = find_user(session, username)
        member = _member(session, ref.id, user.id)
        actor = principal.username if principal else ""
        if member is None:
            session.add(ChannelMember(channel_id=ref.id, user_id=user.id, role=role.label))
            audit.record(
                session, actor, "member_added", channel=channel, target=username, detail=role.label, address=address
            )
        elif member.role == Role.OWNER.label:
            raise Conflict(f"{username} owns {channel!r}: transfer ownership before changing their role")
        elif member.role != role.label:
            audit.record(
                session,
                actor,
                "member_changed",
                channel=channel,
                target=username,
                detail=f"{member.role} -> {role.label}",
                address=address,
            )
            member.role = role.label
    return Member(username, role.label)


def remove_member(
    db: Database, principal: Principal | None, channel: str, username: str, address: str | None = None
) -> None:
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        user = find_user(session, username)
        member = _member(session, ref.id, user.id)
        if member is None:
            raise NotFound(f"{username} is not a member of {channel!r}")
        if member.role == Role.OWNER.label:
            raise Conflict(f"{username} owns {channel!r}: transfer ownership first")
        session.delete(member)
        audit.record(
            session,
            principal.username if principal else "",
            "member_removed",
            channel=channel,
            target=username,
            address=address,
        )


def transfer(
    db: Database, principal: Principal | None, channel: str, username: str, address: str | None = None
) -> None:
    """Make ``username`` the owner; the old owner stays on as a Contributor."""
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        new_owner = find_user(session, username)
        old = session.scalar(
            select(ChannelMember).where(ChannelMember.channel_id == ref.id, ChannelMember.role == Role.OWNER.label)
        )
        if old is not None and old.user_id == new_owner.id:
            raise Conflict(f"{username} already owns {channel!r}")
        if old is not None:
            old.role = Role.CONTRIBUTOR.label
        member = _member(session, ref.id, new_owner.id)
        if member is None:
            session.add(ChannelMember(channel_id=ref.id, user_id=new_owner.id, role=Role.OWNER.label))
        else:
            member.role = Role.OWNER.label
        audit.record(
            session,
            principal.username if principal else "",
            "ownership_transferred",
            channel=channel,
            target=username,
            address=address,
        )


def _member(session: Session, channel_id: int, user_id: int) -> ChannelMember | None:
    return session.scalar(
        select(ChannelMember).where(ChannelMember.channel_id == channel_id, ChannelMember.user_id == user_id)
    )
