"""Read-only views of package files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.conda.names import DEFAULT_LABEL
from taipan.db.engine import Database
from taipan.db.models import Channel, FileLabel, PackageFile, Subdir
from taipan.errors import NotFound
from taipan.indexing.artifacts import IndexFiles, SubdirState


@dataclass(frozen=True)
class FileInfo:
    subdir: str
    filename: str
    name: str
    version: str
    build: str
    build_number: int
    sha256: str
    md5: str
    size: int
    indexed_timestamp: int
    uploaded_ms: int
    uploader: str | None
    has_attestation: bool
    """A Sigstore bundle was uploaded with the file: served at ``<file>.sigstore.json``."""
    object_key: str | None
    """Where the bytes lie in storage, when not at the plain key (taipan.packages.objects)."""


def find_file(
    db: Database, principal: Principal | None, channel: str, subdir: str, filename: str, label: str = DEFAULT_LABEL
) -> tuple[FileInfo, bool]:
    """One file of a channel's label view the caller may read, and whether the channel is
    private. One query for a public channel."""
    query = (
        _select()
        .add_columns(Channel.id, Channel.private, Channel.created_ms)
        .join(Channel, Channel.id == Subdir.channel_id)
        .join(FileLabel, FileLabel.file_id == PackageFile.id)
        .where(
            Channel.name == channel,
            Subdir.name == subdir,
            PackageFile.filename == filename,
            FileLabel.label == label,
        )
    )
    with db.read() as session:
        row = session.execute(query).first()
        if row is None:
            raise missing(session, principal, channel, f"{subdir}/{filename}")
        *fields, channel_id, private, created_ms = row
        if private:
            access.check(session, principal, access.ChannelRef(channel_id, channel, private, created_ms), Role.VIEWER)
    return FileInfo(*fields), private


def missing(session: Session, principal: Principal | None, channel: str, what: str) -> Exception:
    """The error for something absent in ``channel``: NotFound only if the caller may read the channel."""
    access.require(session, principal, channel, Role.VIEWER)
    return NotFound(f"{what} does not exist in channel {channel!r}")


def list_files(
    db: Database,
    principal: Principal | None,
    channel: str,
    subdir: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[FileInfo]:
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        query = _select().where(Subdir.channel_id == ref.id)
        if subdir is not None:
            query = query.where(Subdir.name == subdir)
        rows = session.execute(query.order_by(Subdir.name, PackageFile.filename).limit(limit).offset(offset)).all()
    return [FileInfo(*r) for r in rows]


def _select() -> Any:  # a Select of the FileInfo columns, in order
    return select(
        Subdir.name,
        PackageFile.filename,
        PackageFile.name,
        PackageFile.version,
        PackageFile.build,
        PackageFile.build_number,
        PackageFile.sha256,
        PackageFile.md5,
        PackageFile.size,
        PackageFile.indexed_timestamp,
        PackageFile.uploaded_ms,
        PackageFile.uploader,
        PackageFile.has_attestation,
        PackageFile.object_key,
    ).join(Subdir, Subdir.id == PackageFile.subdir_id)


def readable_subdir(
    db: Database,
    index: IndexFiles,
    principal: Principal | None,
    channel: str,
    subdir: str,
    label: str = DEFAULT_LABEL,
) -> SubdirState:
    """The index state of a subdir's label view the caller may read (one query for a public channel)."""
    state = index.state(channel, subdir, label)
    with db.read() as session:
        if state is None:
            raise missing(session, principal, channel, f"subdir {subdir!r}")
        if state.private:
            ref = access.ChannelRef(state.channel_id, channel, state.private, state.channel_created_ms)
            access.check(session, principal, ref, Role.VIEWER)
    return state
