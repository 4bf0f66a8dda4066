"""What the web pages show: channels, their packages with latest versions, one package's
files, and search across package names.

Privacy is decided in SQL with the same rules as ``channels.access``: a private channel's
rows take part only for callers who may read it. Lists come a page at a time; only the
page's rows are decoded (records, about.json, labels), so a page costs the same in a
channel of 10 files and one of 10,000.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Generic, TypeVar

import orjson
from rattler import Version
from sqlalchemy import Select, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import Channel, ChannelMember, FileLabel, PackageFile, Subdir, User
from taipan.errors import NotFound

T = TypeVar("T")
PER_PAGE = 50
VERSIONS_PER_PAGE = 20
MAX_QUERY = 100
Pending = Callable[[str, str, str], int]
"""Download counts not yet written, by (channel, subdir, filename)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class ChannelCard:
    name: str
    description: str
    private: bool
    avatar_url: str
    role: str | None
    packages: int
    files: int


@dataclass(frozen=True)
class SubdirCount:
    name: str
    files: int


@dataclass(frozen=True)
class ChannelView:
    name: str
    description: str
    private: bool
    avatar_url: str
    created_ms: int
    owner: str | None
    role: Role | None
    """The caller's role (None when anonymous)."""
    subdirs: tuple[SubdirCount, ...]
    labels: tuple[str, ...]

    @property
    def files(self) -> int:
        return sum(s.files for s in self.subdirs)


@dataclass(frozen=True)
class PackageSummary:
    channel: str
    private: bool
    name: str
    latest: str
    subdirs: tuple[str, ...]
    files: int
    summary: str


@dataclass(frozen=True)
class FileRow:
    id: int
    subdir: str
    filename: str
    version: str
    build: str
    build_number: int
    size: int
    sha256: str
    md5: str
    uploaded_ms: int
    uploader: str | None
    downloads: int
    has_attestation: bool = False
    labels: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    license: str = ""


@dataclass(frozen=True)
class VersionRow:
    version: str
    files: tuple[FileRow, ...]

    @property
    def subdirs(self) -> tuple[str, ...]:
        return tuple(sorted({f.subdir for f in self.files}))


@dataclass(frozen=True)
class About:
    summary: str = ""
    description: str = ""
    license: str = ""
    home: str = ""
    dev_url: str = ""
    doc_url: str = ""


@dataclass(frozen=True)
class PackageDetail:
    channel: str
    private: bool
    role: Role | None
    name: str
    latest: FileRow
    about: About
    subdirs: tuple[str, ...]
    files: int
    downloads: int
    versions: Page[VersionRow]


# -- channels -------------------------------------------------------------------------


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


# -- package lists --------------------------------------------------------------------


def channel_packages(
    db: Database,
    principal: Principal | None,
    channel: str,
    *,
    query: str = "",
    subdir: str = "",
    number: int = 1,
    size: int = PER_PAGE,
) -> Page[PackageSummary]:
    """The channel's package names (optionally those containing ``query``, or in ``subdir``), by name."""
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        where = [Subdir.channel_id == ref.id]
        if subdir:
            where.append(Subdir.name == subdir)
        if query:
            where.append(_contains(query))
        groups = (
            select(PackageFile.name)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(*where)
            .group_by(PackageFile.name)
            .order_by(PackageFile.name)
        )
        rows, total = _page_of(session, groups, number, size)
        found = _summaries(session, [(ref.id, r.name) for r in rows], {ref.id: (ref.name, ref.private)}, subdir)
    return Page(tuple(found), total, number, size)


def _page_of(session: Session, groups: Select[*tuple[Any, ...]], number: int, size: int) -> tuple[Sequence[Any], int]:
    """One page of ``groups`` and how many there are, in one pass (a window count) when the
    page has rows; a separate count only for a page past the end."""
    rows = session.execute(
        groups.add_columns(func.count().over().label("total_")).limit(size).offset((number - 1) * size)
    ).all()
    if rows:
        return rows, int(rows[0].total_)
    return rows, session.scalar(select(func.count()).select_from(groups.order_by(None).subquery())) or 0


def search_packages(
    db: Database, principal: Principal | None, query: str, number: int = 1, size: int = PER_PAGE
) -> Page[PackageSummary]:
    """Package names containing ``query`` in every channel the caller can read: the exact
    name first, then names starting with it, then the rest, by name."""
    query = normalize_query(query)
    if not query:
        return Page((), 0, number, size)
    pattern = _escape(query)
    rank = func.min(
        case((PackageFile.name == query, 0), (PackageFile.name.like(pattern + "%", escape="\\"), 1), else_=2)
    )
    groups = (
        select(Channel.id, Channel.name, Channel.private, PackageFile.name.label("package"), rank.label("rank"))
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(_contains(query), Channel.id.in_(readable_channel_ids(principal)))
        .group_by(Channel.id, Channel.name, Channel.private, PackageFile.name)
    )
    with db.read() as session:
        rows, total = _page_of(session, groups.order_by("rank", PackageFile.name, Channel.name), number, size)
        channels = {r.id: (r.name, r.private) for r in rows}
        found = _summaries(session, [(r.id, r.package) for r in rows], channels, "")
    return Page(tuple(found), total, number, size)


def normalize_query(query: str) -> str:
    """Package names are lower case (CEP 26); search in lower case, bounded."""
    return query.strip().lower()[:MAX_QUERY]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(query: str) -> Any:
    return PackageFile.name.like("%" + _escape(normalize_query(query)) + "%", escape="\\")


def _summaries(
    session: Session, pairs: Sequence[tuple[int, str]], channels: dict[int, tuple[str, bool]], subdir: str
) -> list[PackageSummary]:
    """Latest version, subdirs, file count and summary of each (channel id, package name)."""
    if not pairs:
        return []
    query = (
        select(
            Subdir.channel_id,
            PackageFile.name,
            PackageFile.id,
            Subdir.name.label("subdir"),
            PackageFile.version,
            PackageFile.build_number,
            PackageFile.uploaded_ms,
        )
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .where(Subdir.channel_id.in_({c for c, _ in pairs}), PackageFile.name.in_({n for _, n in pairs}))
    )
    if subdir:
        query = query.where(Subdir.name == subdir)
    grouped: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in session.execute(query):
        grouped[(row.channel_id, row.name)].append(row)
    best = {
        pair: max(rows, key=lambda r: (version_key(r.version), r.build_number, r.uploaded_ms))
        for pair, rows in grouped.items()
    }
    abouts = _abouts(session, [r.id for r in best.values()])
    result = []
    for pair in pairs:
        rows = grouped.get(pair)
        if not rows:
            continue
        top = best[pair]
        channel, private = channels[pair[0]]
        subdirs = tuple(sorted({r.subdir for r in rows}))
        summary = _text(abouts.get(top.id, {}).get("summary"))
        result.append(PackageSummary(channel, private, pair[1], top.version, subdirs, len(rows), summary))
    return result


def _abouts(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = list(ids)
    if not ids:
        return {}
    return {
        i: _json_object(blob)
        for i, blob in session.execute(select(PackageFile.id, PackageFile.about).where(PackageFile.id.in_(ids)))
    }


@lru_cache(maxsize=65_536)
def version_key(version: str) -> tuple[int, Any]:
    """Conda's version order; a version rattler cannot parse sorts below every parsed one."""
    try:
        return (1, Version(version))
    except Exception:  # rattler raises its own exception types for malformed versions
        return (0, version)


# -- one package ----------------------------------------------------------------------


def package_detail(
    db: Database,
    principal: Principal | None,
    channel: str,
    name: str,
    number: int = 1,
    size: int = VERSIONS_PER_PAGE,
    pending: Pending | None = None,
) -> PackageDetail:
    """Every file of one package in one channel, grouped by version (newest first, a page
    of versions at a time), with the about.json of the latest."""
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        role = access.effective_role(session, principal, ref) if principal is not None else None
        rows: Sequence[Any] = session.execute(
            select(
                PackageFile.id,
                Subdir.name,
                PackageFile.filename,
                PackageFile.version,
                PackageFile.build,
                PackageFile.build_number,
                PackageFile.size,
                PackageFile.sha256,
                PackageFile.md5,
                PackageFile.uploaded_ms,
                PackageFile.uploader,
                PackageFile.download_count,
                PackageFile.has_attestation,
            )
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(Subdir.channel_id == ref.id, PackageFile.name == name)
        ).all()
        if not rows:
            raise NotFound(f"package {name!r} does not exist in channel {channel!r}")
        files = [FileRow(*r) for r in rows]
        if pending is not None:
            files = [_with_pending(f, pending(channel, f.subdir, f.filename)) for f in files]
        files.sort(key=lambda f: (version_key(f.version), f.build_number, f.uploaded_ms), reverse=True)
        by_version: dict[str, list[FileRow]] = defaultdict(list)
        for f in files:
            by_version[f.version].append(f)
        versions = list(by_version)
        shown = versions[(number - 1) * size : number * size]
        details = _details(session, [f for v in shown for f in by_version[v]] + [files[0]])
        about = _about(_abouts(session, [files[0].id]).get(files[0].id, {}))
    page = Page(
        tuple(
            VersionRow(v, tuple(sorted((details.get(f.id, f) for f in by_version[v]), key=_file_order))) for v in shown
        ),
        len(versions),
        number,
        size,
    )
    latest = details.get(files[0].id, files[0])
    about = about if about.license else replace(about, license=latest.license)
    return PackageDetail(
        ref.name,
        ref.private,
        role,
        name,
        latest,
        about,
        tuple(sorted({f.subdir for f in files})),
        len(files),
        sum(f.downloads for f in files),
        page,
    )


def _file_order(f: FileRow) -> tuple[str, int, str]:
    return (f.subdir, -f.build_number, f.build)


def _with_pending(f: FileRow, extra: int) -> FileRow:
    return replace(f, downloads=f.downloads + extra) if extra else f


def _details(session: Session, files: Sequence[FileRow]) -> dict[int, FileRow]:
    """These files with their labels and what their records say (decoded only for these)."""
    ids = [f.id for f in files]
    labels: dict[int, list[str]] = defaultdict(list)
    for file_id, label in session.execute(
        select(FileLabel.file_id, FileLabel.label).where(FileLabel.file_id.in_(ids)).order_by(FileLabel.label)
    ):
        labels[file_id].append(label)
    records = dict(session.execute(select(PackageFile.id, PackageFile.record).where(PackageFile.id.in_(ids))).all())
    out = {}
    for f in files:
        record = _json_object(records.get(f.id))
        out[f.id] = replace(
            f,
            labels=tuple(labels.get(f.id, ())),
            depends=_strings(record.get("depends")),
            constrains=_strings(record.get("constrains")),
            license=_text(record.get("license")),
        )
    return out


def _about(data: dict[str, Any]) -> About:
    """The fields of about.json the pages show. Untrusted: only strings are taken; the
    templates escape them and link only http(s) URLs."""
    return About(
        summary=_text(data.get("summary")),
        description=_text(data.get("description")),
        license=_text(data.get("license")),
        home=_text(data.get("home")),
        dev_url=_text(data.get("dev_url")),
        doc_url=_text(data.get("doc_url")),
    )


def _json_object(blob: bytes | None) -> dict[str, Any]:
    try:
        value = orjson.loads(blob or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int = 20_000) -> str:
    if isinstance(value, list):  # conda-build writes some about fields as lists of strings
        value = " ".join(v for v in value if isinstance(v, str))
    return value[:limit] if isinstance(value, str) else ""


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


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
