"""Channels as the pages list and head them, with privacy decided in SQL (``channels.access`` rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import Channel, ChannelMember, FileLabel, PackageFile, Subdir, User
from taipan.packages.read_model.views import PER_PAGE, ChannelCard, ChannelView, Page, SubdirCount


def readable_channel_ids(principal: Principal | None) -> Select[Any]:
    """The ids of the channels ``principal`` may read (``channels.access`` rules, in SQL)."""
    public = Channel.private.is_(False)
    query = select(Channel.id)
    if principal is None:
        return query.where(public)
    if principal.user_is_admin:  # the credential's scope narrows it below
        member: Any = true()
    else:
        member = Channel.id.in_(select(ChannelMember.channel_id).where(ChannelMember.user_id == principal.user_id))
    if principal.channel_caps is not None:
        member = and_(member, Channel.id.in_(list(principal.channel_caps)))
    return query.where(or_(public, member))


def channels_page(
    db: Database, principal: Principal | None, number: int = 1, size: int = PER_PAGE
) -> Page[ChannelCard]:
    """The channels the caller can read, by name, with their package and file counts."""
    readable = readable_channel_ids(principal)
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(readable.subquery())) or 0
        rows = session.execute(
            select(Channel.id, Channel.name, Channel.description, Channel.private, Channel.avatar_url)
            .where(Channel.id.in_(readable))
            .order_by(Channel.name)
            .limit(size)
            .offset((number - 1) * size)
        ).all()
        ids = [r.id for r in rows]
        counts = {
            cid: (names, files)
            for cid, names, files in session.execute(
                select(Subdir.channel_id, func.count(func.distinct(PackageFile.name)), func.count(PackageFile.id))
                .join(PackageFile, PackageFile.subdir_id == Subdir.id)
                .where(Subdir.channel_id.in_(ids))
                .group_by(Subdir.channel_id)
            )
        }
        roles = _member_roles(session, principal, ids)
    cards = tuple(
        ChannelCard(r.name, r.description, r.private, r.avatar_url, roles.get(r.id), *counts.get(r.id, (0, 0)))
        for r in rows
    )
    return Page(cards, total, number, size)


def _member_roles(session: Session, principal: Principal | None, ids: Sequence[int]) -> dict[int, str]:
    if principal is None or principal.user_id is None or not ids:
        return {}
    rows = session.execute(
        select(ChannelMember.channel_id, ChannelMember.role).where(
            ChannelMember.user_id == principal.user_id, ChannelMember.channel_id.in_(ids)
        )
    )
    return {cid: role for cid, role in rows}


def channel_view(db: Database, principal: Principal | None, name: str, *, counts: bool = True) -> ChannelView:
    """A channel's header: description, avatar, owner, the caller's role, and (``counts``)
    its subdirs with their file counts and its labels, which cost a pass over its files."""
    with db.read() as session:
        ref = access.require(session, principal, name, Role.VIEWER)
        role = access.effective_role(session, principal, ref) if principal is not None else None
        row = session.execute(
            select(Channel.description, Channel.avatar_url, Channel.created_ms).where(Channel.id == ref.id)
        ).one()
        owner = session.scalar(
            select(User.username)
            .join(ChannelMember, ChannelMember.user_id == User.id)
            .where(ChannelMember.channel_id == ref.id, ChannelMember.role == Role.OWNER.label)
        )
        subdirs: Sequence[Any] = []
        labels: Sequence[str] = []
        if counts:
            subdirs, labels = _subdirs_and_labels(session, ref.id)
    return ChannelView(
        ref.name,
        row.description,
        ref.private,
        row.avatar_url,
        row.created_ms,
        owner,
        role,
        tuple(SubdirCount(n, c) for n, c in subdirs),
        tuple(labels),
    )


def _subdirs_and_labels(session: Session, channel_id: int) -> tuple[Sequence[Any], Sequence[str]]:
    subdirs = session.execute(
        select(Subdir.name, func.count(PackageFile.id))
        .outerjoin(PackageFile, PackageFile.subdir_id == Subdir.id)
        .where(Subdir.channel_id == channel_id)
        .group_by(Subdir.id, Subdir.name)
        .order_by(Subdir.name)
    ).all()
    labels = session.scalars(
        select(FileLabel.label)
        .join(PackageFile, PackageFile.id == FileLabel.file_id)
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .where(Subdir.channel_id == channel_id)
        .distinct()
        .order_by(FileLabel.label)
    ).all()
    return subdirs, labels


def member_channels(db: Database, principal: Principal | None) -> list[tuple[str, str]]:
    """(channel, role) of every channel the caller is a member of (an administrator: all, as owner)."""
    if principal is None or principal.user_id is None:
        return []
    with db.read() as session:
        if principal.is_admin:
            return [(n, Role.OWNER.label) for n in session.scalars(select(Channel.name).order_by(Channel.name))]
        rows = session.execute(
            select(Channel.name, ChannelMember.role)
            .join(ChannelMember, ChannelMember.channel_id == Channel.id)
            .where(ChannelMember.user_id == principal.user_id)
            .order_by(Channel.name)
        )
        return [(n, r) for n, r in rows]
