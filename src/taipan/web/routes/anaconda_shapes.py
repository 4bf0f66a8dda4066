"""The JSON shapes of anaconda.org's API, as anaconda-client 1.16 reads them.

anaconda-client indexes into these without defaults (``created_at`` of a user, ``public``,
``owner.login`` and ``releases`` of a package, ``full_name``, ``latest_version``,
``package_types``, ``conda_platforms`` of a listed package, ``basename`` and
``description`` of a file), so every one of those keys is always present.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taipan.errors import InvalidInput
from taipan.packages.catalog import Distribution, PackageSummary, PackageView


def split_basename(basename: str) -> tuple[str, str]:
    subdir, sep, filename = basename.partition("/")
    if not sep or not filename or "/" in filename:
        raise InvalidInput(f"{basename!r} is not SUBDIR/FILENAME")
    return subdir, filename


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def dist(owner: str, info: Distribution) -> dict[str, Any]:
    return {
        "basename": info.basename,
        "full_name": f"{owner}/{info.name}/{info.version}/{info.basename}",
        "owner": owner,
        "package": info.name,
        "version": info.version,
        "description": None,
        "distribution_type": "conda",
        "type": "conda",
        "labels": list(info.labels),
        "sha256": info.sha256,
        "md5": info.md5,
        "size": info.size,
        "upload_time": iso(info.uploaded_ms),
        "ndownloads": info.downloads,
        "attrs": info.record,
    }


def summary(info: PackageSummary) -> dict[str, Any]:
    return {
        "name": info.name,
        "full_name": f"{info.channel}/{info.name}",
        "owner": {"login": info.channel},
        "public": not info.private,
        "summary": info.summary,
        "latest_version": info.versions[-1] if info.versions else "",
        "versions": list(info.versions),
        "package_types": ["conda"],
        "conda_platforms": list(info.subdirs),
        "builds": list(info.builds),
        "created_at": iso(info.created_ms),
        "modified_at": iso(info.modified_ms),
    }


def package(view: PackageView) -> dict[str, Any]:
    owner = view.summary.channel
    releases: dict[str, list[str]] = {}
    for f in view.files:
        releases.setdefault(f.version, []).append(f.basename)
    return {
        **summary(view.summary),
        "releases": [
            {"version": version, "full_name": f"{owner}/{view.summary.name}/{version}", "distributions": basenames}
            for version, basenames in releases.items()
        ],
        "files": [dist(owner, f) for f in view.files],
    }


def release(view: PackageView, version: str) -> dict[str, Any]:
    owner, name = view.summary.channel, view.summary.name
    return {
        "version": version,
        "full_name": f"{owner}/{name}/{version}",
        "package": name,
        "owner": {"login": owner},
        "public_attrs": {"summary": view.summary.summary, "description": None},
        "distributions": [dist(owner, f) for f in view.files],
    }
