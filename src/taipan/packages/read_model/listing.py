"""A channel's packages a page at a time, each with its latest version; the name matching search shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import PackageFile, Subdir
from taipan.packages.read_model.views import PER_PAGE, PackageSummary, Page, json_object, text, version_key

MAX_QUERY = 100


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
            where.append(name_contains(query))
        groups = (
            select(PackageFile.name)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(*where)
            .group_by(PackageFile.name)
            .order_by(PackageFile.name)
        )
        rows, total = page_of(session, groups, number, size)
        found = summaries(session, [(ref.id, r.name) for r in rows], {ref.id: (ref.name, ref.private)}, subdir)
    return Page(tuple(found), total, number, size)


def page_of(session: Session, groups: Select[*tuple[Any, ...]], number: int, size: int) -> tuple[Sequence[Any], int]:
    """One page of ``groups`` and how many there are, in one pass (a window count) when the
    page has rows; a separate count only for a page past the end."""
    rows = session.execute(
        groups.add_columns(func.count().over().label("total_")).limit(size).offset((number - 1) * size)
    ).all()
    if rows:
        return rows, int(rows[0].total_)
    return rows, session.scalar(select(func.count()).select_from(groups.order_by(None).subquery())) or 0


def normalize_query(query: str) -> str:
    """Package names are lower case (CEP 26); search in lower case, bounded."""
    return query.strip().lower()[:MAX_QUERY]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_contains(query: str) -> Any:
    return PackageFile.name.like("%" + escape_like(normalize_query(query)) + "%", escape="\\")


def summaries(
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
    abouts = abouts_of(session, [r.id for r in best.values()])
    result = []
    for pair in pairs:
        rows = grouped.get(pair)
        if not rows:
            continue
        top = best[pair]
        channel, private = channels[pair[0]]
        subdirs = tuple(sorted({r.subdir for r in rows}))
        summary = text(abouts.get(top.id, {}).get("summary"))
        result.append(PackageSummary(channel, private, pair[1], top.version, subdirs, len(rows), summary))
    return result


def abouts_of(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = list(ids)
    if not ids:
        return {}
    return {
        i: json_object(blob)
        for i, blob in session.execute(select(PackageFile.id, PackageFile.about).where(PackageFile.id.in_(ids)))
    }
