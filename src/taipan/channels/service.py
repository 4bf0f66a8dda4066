"""Channel use-cases: create, list, show, change, delete."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taipan.accounts import audit
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.conda.names import check_channel_name
from taipan.db.engine import Database
from taipan.db.models import Channel, ChannelMember, PackageFile, Subdir, User
from taipan.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from taipan.indexing.state import ensure_subdir
from taipan.storage.base import Storage

MAX_DESCRIPTION = 10_000


@dataclass(frozen=True)
class SubdirSummary:
    name: str
    files: int
    revision: int


@dataclass(frozen=True)
class ChannelInfo:
    name: str
    description: str
    private: bool
    created_ms: int
    owner: str | None
    role: str | None
    """The caller's own role (None for anonymous callers of public channels)."""
    subdirs: tuple[SubdirSummary, ...] = ()


def create_channel(
    db: Database, principal: Principal | None, name: str, description: str = "", *, private: bool = False
) -> ChannelInfo:
    """Make a channel owned by the caller. noarch exists from the start."""
    access.refuse_publisher(principal, "create channels")
    if principal is None or principal.user_id is None:
        raise Unauthenticated(access.ANONYMOUS_MESSAGE)
    if principal.read_only or principal.channel_caps is not None:
        raise Forbidden("this key may not create channels: use an unscoped key that is not read-only")
    check_channel_name(name)
    _check_description(description)
    try:
        with db.write() as session:
            if session.scalar(select(Channel.id).where(Channel.name == name)) is not None:
                raise Conflict(f"channel {name!r} already exists")
            channel = Channel(name=name, description=description, private=private)
            session.add(channel)
            session.flush()
            session.add(ChannelMember(channel_id=channel.id, user_id=principal.user_id, role=Role.OWNER.label))
            # noarch always exists: clients probe it to decide whether this is a channel at all.
            ensure_subdir(session, channel.id, "noarch")
            audit.record(session, principal.username, "channel_created", channel=name, detail=f"private={private}")
    except IntegrityError as exc:
        raise Conflict(f"channel {name!r} already exists") from exc
    return get_channel(db, principal, name)


def create_or_get_channel(db: Database, principal: Principal | None, name: str, description: str) -> ChannelInfo:
    """Make the channel, or, when it exists already (made at the same moment by a concurrent
    request, say), the channel as the caller sees it: what "made on first upload" needs."""
    try:
        return create_channel(db, principal, name, description)
    except Conflict:
        return get_channel(db, principal, name)  # NotFound when it exists but the caller cannot see it


def list_channels(db: Database, principal: Principal | None) -> list[ChannelInfo]:
    """The channels the caller can read, by name."""
    query = select(Channel).order_by(Channel.name)
    if principal is None:
        query = query.where(Channel.private.is_(False))
    elif not principal.user_is_admin:  # effective_role below applies the credential's limits
        member_of = select(ChannelMember.channel_id).where(ChannelMember.user_id == principal.user_id)
        query = query.where(or_(Channel.private.is_(False), Channel.id.in_(member_of)))
    with db.read() as session:
        result = []
        for channel in session.scalars(query):
            ref = access.ChannelRef(channel.id, channel.name, channel.private, channel.created_ms)
            role = access.effective_role(session, principal, ref)
            if role is not None:
                result.append(_info(session, channel, principal, role, with_subdirs=False))
        return result


def get_channel(db: Database, principal: Principal | None, name: str) -> ChannelInfo:
    with db.read() as session:
        ref = access.require(session, principal, name, Role.VIEWER)
        role = access.effective_role(session, principal, ref)
        return _info(session, _row(session, ref.id), principal, role, with_subdirs=True)


def update_channel(
    db: Database,
    principal: Principal | None,
    name: str,
    *,
    description: str | None = None,
    private: bool | None = None,
    address: str | None = None,
) -> ChannelInfo:
    with db.write() as session:
        ref = access.require(session, principal, name, Role.OWNER)
        channel = _row(session, ref.id)
        if description is not None:
            _check_description(description)
            channel.description = description
        if private is not None and private != channel.private:
            channel.private = private
            actor = principal.username if principal else ""
            audit.record(
                session, actor, "visibility_changed", channel=name, detail=f"private={private}", address=address
            )
    return get_channel(db, principal, name)


def delete_channel(
    db: Database, storage: Storage, principal: Principal | None, name: str, confirm: str, address: str | None = None
) -> None:
    """Remove the channel, its records and its files; the name becomes free at once.

    Only the owner (or an admin) may, and only by repeating the channel's name.
    """
    with db.write() as session:
        ref = access.require(session, principal, name, Role.OWNER)
        if confirm != name:
            raise InvalidInput(f"to delete channel {name!r}, repeat its name as confirmation")
        session.delete(_row(session, ref.id))
        audit.record(session, principal.username if principal else "", "channel_deleted", channel=name, address=address)
    storage.delete_prefix(f"{name}/")


def channel_id(session: Session, name: str) -> int:
    """The id of a channel by name, for trusted callers (local CLI tools) that skip access checks."""
    found = session.scalar(select(Channel.id).where(Channel.name == name))
    if found is None:
        raise NotFound(f"channel {name!r} does not exist")
    return found


def _row(session: Session, channel_id_: int) -> Channel:
    channel = session.get(Channel, channel_id_)
    assert channel is not None
    return channel


def _check_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")


def _info(
    session: Session, channel: Channel, principal: Principal | None, role: Role | None, *, with_subdirs: bool
) -> ChannelInfo:
    owner = session.scalar(
        select(User.username)
        .join(ChannelMember, ChannelMember.user_id == User.id)
        .where(ChannelMember.channel_id == channel.id, ChannelMember.role == Role.OWNER.label)
    )
    subdirs: tuple[SubdirSummary, ...] = ()
    if with_subdirs:
        rows = session.execute(
            select(Subdir.name, Subdir.revision, func.count(PackageFile.id))
            .outerjoin(PackageFile, PackageFile.subdir_id == Subdir.id)
            .where(Subdir.channel_id == channel.id)
            .group_by(Subdir.id)
            .order_by(Subdir.name)
        ).all()
        subdirs = tuple(SubdirSummary(n, count, rev) for n, rev, count in rows)
    shown_role = role.label if role is not None and principal is not None else None
    return ChannelInfo(
        channel.name, channel.description, channel.private, channel.created_ms, owner, shown_role, subdirs
    )
