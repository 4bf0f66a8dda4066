"""anaconda.org's read model over Taipan's files: packages, releases and distributions.

anaconda.org keeps packages and releases as objects of their own; in Taipan they are only
the files of one name (and version) in a channel. These views group the files that way, for
the anaconda dialect. Every view checks read access the way ``channels.access`` says: a
channel the caller cannot read answers exactly as a channel that does not exist, so no
answer here depends on what a private channel holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from rattler import Version
from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import Channel, ChannelMember, FileLabel, PackageFile, Subdir
from taipan.errors import NotFound

MAX_SEARCH_RESULTS = 500
"""Packages one search answers at most (the best matches: exact name first)."""
MAX_SUMMARY = 2_000


@dataclass(frozen=True)
class Distribution:
    """One package file, as anaconda.org calls it."""

    subdir: str
    filename: str
    name: str
    version: str
    build: str
    sha256: str
    md5: str
    size: int
    uploaded_ms: int
    downloads: int
    labels: tuple[str, ...]
    record: dict[str, Any]
    """The file's repodata record."""

    @property
    def basename(self) -> str:
        return f"{self.subdir}/{self.filename}"


@dataclass(frozen=True)
class PackageSummary:
    """The files of one name in one channel, summed up."""

    channel: str
    private: bool
    name: str
    summary: str
    versions: tuple[str, ...]
    """Oldest first, in conda's version order; the last is the latest."""
    subdirs: tuple[str, ...]
    builds: tuple[str, ...]
    created_ms: int
    modified_ms: int


@dataclass(frozen=True)
class PackageView:
    summary: PackageSummary
    files: tuple[Distribution, ...]
    """Sorted by version (conda's order), then subdir and file name."""


def package(
    db: Database, principal: Principal | None, channel: str, name: str, version: str | None = None
) -> PackageView:
    """The files named ``name`` (of ``version``, if given) in ``channel``; NotFound if none."""
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        query = _file_rows().where(Subdir.channel_id == ref.id, PackageFile.name == name)
        if version is not None:
            query = query.where(PackageFile.version == version)
        rows = session.execute(query).all()
        if not rows:
            what = f"release {name} {version}" if version is not None else f"package {name!r}"
            raise NotFound(f"{what} does not exist in channel {channel!r}")
        files = _distributions(session, rows)
        about = _about(session, rows, files)
    files.sort(key=lambda f: (version_key(f.version), f.subdir, f.filename))
    return PackageView(_summary(channel, ref.private, name, files, about), tuple(files))


def distribution(
    db: Database, principal: Principal | None, channel: str, name: str, version: str, subdir: str, filename: str
) -> Distribution:
    """One file, if it is ``name`` at ``version`` in ``channel``."""
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        rows = session.execute(
            _file_rows().where(
                Subdir.channel_id == ref.id,
                Subdir.name == subdir,
                PackageFile.filename == filename,
                PackageFile.name == name,
                PackageFile.version == version,
            )
        ).all()
        files = _distributions(session, rows)
    if not files:
        raise NotFound(f"{subdir}/{filename} ({name} {version}) does not exist in channel {channel!r}")
    return files[0]


def channel_packages(
    db: Database, principal: Principal | None, channel: str, subdir: str | None = None
) -> list[PackageSummary]:
    """Every package of a channel; your own channel, not made yet, has none."""
    with db.read() as session:
        ref = access.find(session, channel)
        if ref is None and principal is not None and principal.username == channel:
            return []
        ref = access.require(session, principal, channel, Role.VIEWER)
        query = _summary_rows().where(Subdir.channel_id == ref.id)
        if subdir is not None:
            query = query.where(Subdir.name == subdir)
        return _summaries(session, session.execute(query).all())


def search(db: Database, principal: Principal | None, term: str, subdir: str | None = None) -> list[PackageSummary]:
    """Packages whose name contains ``term``, in every channel the caller can read: the
    public ones, and the private ones the caller is a member of (within the key's scope)."""
    term = term.strip().lower()
    if not term:
        return []
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = (
        select(Subdir.channel_id, PackageFile.name)
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(PackageFile.name.like(pattern, escape="\\"), _maybe_readable(principal))
    )
    if subdir is not None:
        matches = matches.where(Subdir.name == subdir)
    exact_first = case((PackageFile.name == term, 0), else_=1)
    matches = matches.group_by(Subdir.channel_id, PackageFile.name).order_by(
        func.min(exact_first), PackageFile.name, Subdir.channel_id
    )
    with db.read() as session:
        pairs = session.execute(matches.limit(MAX_SEARCH_RESULTS)).all()
        readable = _readable(session, principal, {c for c, _ in pairs})
        pairs = [p for p in pairs if p[0] in readable]
        result: list[PackageSummary] = []
        by_channel: dict[int, set[str]] = defaultdict(set)
        for channel_id, name in pairs:
            by_channel[channel_id].add(name)
        for channel_id, names in by_channel.items():
            query = _summary_rows().where(Subdir.channel_id == channel_id, PackageFile.name.in_(names))
            if subdir is not None:
                query = query.where(Subdir.name == subdir)
            result.extend(_summaries(session, session.execute(query).all()))
    result.sort(key=lambda s: (s.name != term, s.name, s.channel))
    return result


@lru_cache(maxsize=65_536)
def version_key(version: str) -> tuple[int, Any]:
    """Conda's version order; a version rattler cannot parse sorts below every parsed one."""
    try:
        return (1, Version(version))
    except Exception:  # rattler raises its own exception types for malformed versions
        return (0, version)


# -- queries ----------------------------------------------------------------------------------


def _maybe_readable(principal: Principal | None) -> Any:
    """The channels the caller may read, in SQL (``channels.access``'s rules; ``_readable``,
    which asks ``access`` itself, has the last word)."""
    public = Channel.private.is_(False)
    if principal is None:
        return public
    caps = list(principal.channel_caps or {})
    if principal.publisher:
        return or_(public, Channel.id.in_(caps))
    member: Any = (
        true()
        if principal.is_admin
        else Channel.id.in_(select(ChannelMember.channel_id).where(ChannelMember.user_id == principal.user_id))
    )
    if principal.channel_caps is not None:
        member = and_(member, Channel.id.in_(caps))
    return or_(public, member)


def _readable(session: Session, principal: Principal | None, ids: Iterable[int]) -> set[int]:
    """Of these channels, those ``channels.access`` lets the caller read (the one authority)."""
    ids = list(ids)
    if not ids:
        return set()
    rows = session.execute(
        select(Channel.id, Channel.name, Channel.private, Channel.created_ms).where(Channel.id.in_(ids))
    ).all()
    return {row[0] for row in rows if access.effective_role(session, principal, access.ChannelRef(*row)) is not None}


def _file_rows() -> Any:  # a Select of the Distribution columns, after the file id
    return select(
        PackageFile.id,
        Subdir.name,
        PackageFile.filename,
        PackageFile.name,
        PackageFile.version,
        PackageFile.build,
        PackageFile.sha256,
        PackageFile.md5,
        PackageFile.size,
        PackageFile.uploaded_ms,
        PackageFile.download_count,
        PackageFile.record,
    ).join(Subdir, Subdir.id == PackageFile.subdir_id)


def _distributions(session: Session, rows: Sequence[Any]) -> list[Distribution]:
    labels: dict[int, list[str]] = defaultdict(list)
    ids = [row[0] for row in rows]
    if ids:
        for file_id, label in session.execute(
            select(FileLabel.file_id, FileLabel.label).where(FileLabel.file_id.in_(ids)).order_by(FileLabel.label)
        ):
            labels[file_id].append(label)
    return [
        Distribution(
            subdir=row[1],
            filename=row[2],
            name=row[3],
            version=row[4],
            build=row[5],
            sha256=row[6],
            md5=row[7],
            size=row[8],
            uploaded_ms=row[9],
            downloads=row[10],
            labels=tuple(labels[row[0]]),
            record=_json_object(row[11]),
        )
        for row in rows
    ]


def _summary_rows() -> Any:  # a Select of what _summaries groups
    return (
        select(
            Channel.name.label("channel"),
            Channel.private,
            PackageFile.id,
            PackageFile.name,
            PackageFile.version,
            PackageFile.build,
            PackageFile.build_number,
            Subdir.name.label("subdir"),
            PackageFile.uploaded_ms,
        )
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .join(Channel, Channel.id == Subdir.channel_id)
    )


def _summaries(session: Session, rows: Sequence[Any]) -> list[PackageSummary]:
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        grouped[(row.channel, row.name)].append(row)
    latest = {key: max(group, key=_newest) for key, group in grouped.items()}
    abouts = dict(
        session.execute(
            select(PackageFile.id, PackageFile.about).where(PackageFile.id.in_([r.id for r in latest.values()]))
        ).all()
    )
    result = []
    for (channel, name), group in sorted(grouped.items()):
        about = _json_object(abouts.get(latest[(channel, name)].id))
        result.append(
            PackageSummary(
                channel,
                group[0].private,
                name,
                _text(about.get("summary")),
                tuple(sorted({r.version for r in group}, key=version_key)),
                tuple(sorted({r.subdir for r in group})),
                tuple(sorted({r.build for r in group})),
                min(r.uploaded_ms for r in group),
                max(r.uploaded_ms for r in group),
            )
        )
    return result


def _summary(
    channel: str, private: bool, name: str, files: Sequence[Distribution], about: dict[str, Any]
) -> PackageSummary:
    return PackageSummary(
        channel,
        private,
        name,
        _text(about.get("summary")),
        tuple(sorted({f.version for f in files}, key=version_key)),
        tuple(sorted({f.subdir for f in files})),
        tuple(sorted({f.build for f in files})),
        min(f.uploaded_ms for f in files),
        max(f.uploaded_ms for f in files),
    )


def _about(session: Session, rows: Sequence[Any], files: Sequence[Distribution]) -> dict[str, Any]:
    """The about data of the newest file (``rows[i]`` is ``files[i]``)."""
    top = max(
        range(len(files)),
        key=lambda i: (version_key(files[i].version), files[i].record.get("build_number", 0), files[i].uploaded_ms),
    )
    return _json_object(session.scalar(select(PackageFile.about).where(PackageFile.id == rows[top][0])))


def _newest(row: Any) -> tuple[Any, ...]:
    return (version_key(row.version), row.build_number, row.uploaded_ms)


def _json_object(blob: bytes | None) -> dict[str, Any]:
    try:
        value = orjson.loads(blob or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value[:MAX_SUMMARY] if isinstance(value, str) else ""
