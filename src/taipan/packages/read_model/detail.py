"""One package of one channel: its files by version, a page of versions at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import FileLabel, PackageFile, Subdir
from taipan.errors import NotFound
from taipan.packages.read_model.listing import abouts_of
from taipan.packages.read_model.views import (
    VERSIONS_PER_PAGE,
    About,
    FileRow,
    PackageDetail,
    Page,
    Pending,
    VersionRow,
    json_object,
    strings,
    text,
    version_key,
)


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
        about = _about(abouts_of(session, [files[0].id]).get(files[0].id, {}))
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
        record = json_object(records.get(f.id))
        out[f.id] = replace(
            f,
            labels=tuple(labels.get(f.id, ())),
            depends=strings(record.get("depends")),
            constrains=strings(record.get("constrains")),
            license=text(record.get("license")),
        )
    return out


def _about(data: dict[str, Any]) -> About:
    """The fields of about.json the pages show. Untrusted: only strings are taken; the
    templates escape them and link only http(s) URLs."""
    return About(
        summary=text(data.get("summary")),
        description=text(data.get("description")),
        license=text(data.get("license")),
        home=text(data.get("home")),
        dev_url=text(data.get("dev_url")),
        doc_url=text(data.get("doc_url")),
    )
