"""Search across package names, in every channel the caller can read.

The pages' other reads (channels, package lists, one package) are the read model in
:mod:`taipan.packages.read_model`.
"""

from __future__ import annotations

from sqlalchemy import case, func, select

from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir
from taipan.packages.read_model.channels import readable_channel_ids
from taipan.packages.read_model.listing import escape_like, name_contains, normalize_query, page_of, summaries
from taipan.packages.read_model.views import PER_PAGE, PackageSummary, Page


def search_packages(
    db: Database, principal: Principal | None, query: str, number: int = 1, size: int = PER_PAGE
) -> Page[PackageSummary]:
    """Package names containing ``query`` in every channel the caller can read: the exact
    name first, then names starting with it, then the rest, by name."""
    query = normalize_query(query)
    if not query:
        return Page((), 0, number, size)
    pattern = escape_like(query)
    rank = func.min(
        case((PackageFile.name == query, 0), (PackageFile.name.like(pattern + "%", escape="\\"), 1), else_=2)
    )
    groups = (
        select(Channel.id, Channel.name, Channel.private, PackageFile.name.label("package"), rank.label("rank"))
        .join(Subdir, Subdir.id == PackageFile.subdir_id)
        .join(Channel, Channel.id == Subdir.channel_id)
        .where(name_contains(query), Channel.id.in_(readable_channel_ids(principal)))
        .group_by(Channel.id, Channel.name, Channel.private, PackageFile.name)
    )
    with db.read() as session:
        rows, total = page_of(session, groups.order_by("rank", PackageFile.name, Channel.name), number, size)
        channels = {r.id: (r.name, r.private) for r in rows}
        found = summaries(session, [(r.id, r.package) for r in rows], channels, "")
    return Page(tuple(found), total, number, size)
