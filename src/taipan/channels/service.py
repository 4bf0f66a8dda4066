"""Channel use-cases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taipan.conda.names import check_channel_name
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir
from taipan.errors import Conflict, InvalidInput, NotFound
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
    created_ms: int
    subdirs: tuple[SubdirSummary, ...] = ()


def create_channel(db: Database, name: str, description: str = "") -> ChannelInfo:
    check_channel_name(name)
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
    try:
        with db.write() as session:
            if session.scalar(select(Channel.id).where(Channel.name == name)) is not None:
                raise Conflict(f"channel {name!r} already exists")
            channel = Channel(name=name, description=description)
            session.add(channel)
            session.flush()
            # noarch always exists: clients probe it to decide whether this is a channel at all.
            ensure_subdir(session, channel.id, "noarch")
    except IntegrityError as exc:
        raise Conflict(f"channel {name!r} already exists") from exc
    return get_channel(db, name)


def list_channels(db: Database) -> list[ChannelInfo]:
    with db.read() as session:
        rows = session.scalars(select(Channel).order_by(Channel.name)).all()
        return [ChannelInfo(c.name, c.description, c.created_ms) for c in rows]


def get_channel(db: Database, name: str) -> ChannelInfo:
    with db.read() as session:
        channel = _find(session, name)
        rows = session.execute(
            select(Subdir.name, Subdir.revision, func.count(PackageFile.id))
            .outerjoin(PackageFile, PackageFile.subdir_id == Subdir.id)
            .where(Subdir.channel_id == channel.id)
            .group_by(Subdir.id)
            .order_by(Subdir.name)
        ).all()
        subdirs = tuple(SubdirSummary(n, count, rev) for n, rev, count in rows)
        return ChannelInfo(channel.name, channel.description, channel.created_ms, subdirs)


def delete_channel(db: Database, storage: Storage, name: str) -> None:
    """Remove the channel, its records and its files; the name becomes free at once."""
    with db.write() as session:
        session.delete(_find(session, name))
    storage.delete_prefix(f"{name}/")


def channel_id(session: Session, name: str) -> int:
    return _find(session, name).id


def _find(session: Session, name: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.name == name))
    if channel is None:
        raise NotFound(f"channel {name!r} does not exist")
    return channel
