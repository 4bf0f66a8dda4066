"""Read-only views of package files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from taipan.channels.service import channel_id
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir


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


def find_file(db: Database, channel: str, subdir: str, filename: str) -> FileInfo | None:
    """One file of a channel, or None when the channel, subdir or file is unknown."""
    query = (
        _select()
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(Channel.name == channel, Subdir.name == subdir, PackageFile.filename == filename)
    )
    with db.read() as session:
        row = session.execute(query).first()
    return FileInfo(*row) if row else None


def list_files(
    db: Database, channel: str, subdir: str | None = None, limit: int = 1000, offset: int = 0
) -> list[FileInfo]:
    with db.read() as session:
        query = _select().where(Subdir.channel_id == channel_id(session, channel))
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
    ).join(Subdir, Subdir.id == PackageFile.subdir_id)
