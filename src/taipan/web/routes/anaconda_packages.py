"""anaconda.org packages, releases and files over Taipan's files (`anaconda show`, `remove`,
`search`, and the package/release/commit calls of `anaconda upload`).

A package is the files of one name in the channel, a release those of one name and version
(``packages.catalog``). Creating either is a no-op once your rights are checked (Contributor,
as for every write); removing one deletes its files.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from taipan.conda.names import DEFAULT_LABEL
from taipan.errors import InvalidInput
from taipan.packages import catalog, tickets
from taipan.packages.remove import delete_file, delete_package
from taipan.web.deps import Address, Caller, Svc, User
from taipan.web.routes import anaconda_shapes as shapes
from taipan.web.routes.anaconda import _public_url

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])


class CommitIn(BaseModel):
    dist_id: str


@router.get("/dist/{owner}/{name}/{version}/{basename:path}", summary="One file, if it exists")
def get_dist(owner: str, name: str, version: str, basename: str, svc: Svc, who: Caller) -> dict[str, Any]:
    subdir, filename = shapes.split_basename(basename)
    return shapes.dist(owner, catalog.distribution(svc.db, who, owner, name, version, subdir, filename))


@router.delete("/dist/{owner}/{name}/{version}/{basename:path}", summary="Delete one file (`remove`, `upload --force`)")
def delete_dist(
    owner: str, name: str, version: str, basename: str, svc: Svc, who: Caller, address: Address
) -> dict[str, str]:
    subdir, filename = shapes.split_basename(basename)
    delete_file(svc.db, svc.storage, who, owner, subdir, filename, address)
    return {"removed": basename}


@router.get("/package/{owner}/{name}", summary="A package: the files of that name in the channel")
def get_package(owner: str, name: str, svc: Svc, who: Caller) -> dict[str, Any]:
    return shapes.package(catalog.package(svc.db, who, owner, name))


@router.post("/package/{owner}/{name}", operation_id="anaconda_create_package", summary="Create a package (a no-op)")
@router.patch("/package/{owner}/{name}", operation_id="anaconda_update_package", summary="Update a package (a no-op)")
def put_package(owner: str, name: str, svc: Svc, who: User) -> dict[str, Any]:
    """Checks you may write to the channel (Contributor); packages exist as their files."""
    tickets.open_channel(svc.db, who, owner)
    return {"name": name, "full_name": f"{owner}/{name}", "owner": {"login": owner}, "package_types": ["conda"]}


@router.delete("/package/{owner}/{name}", status_code=201, summary="Remove a package: delete all its files")
def remove_package(owner: str, name: str, svc: Svc, who: User, address: Address) -> Response:
    delete_package(svc.db, svc.storage, who, owner, name, address=address)
    return Response(status_code=201)


@router.get("/release/{owner}/{name}/{version}", summary="A release: the files of that name and version")
def get_release(owner: str, name: str, version: str, svc: Svc, who: Caller) -> dict[str, Any]:
    return shapes.release(catalog.package(svc.db, who, owner, name, version), version)


@router.post(
    "/release/{owner}/{name}/{version}", operation_id="anaconda_create_release", summary="Create a release (a no-op)"
)
@router.patch(
    "/release/{owner}/{name}/{version}", operation_id="anaconda_update_release", summary="Update a release (a no-op)"
)
def put_release(owner: str, name: str, version: str, svc: Svc, who: User) -> dict[str, Any]:
    """Checks you may write to the channel (Contributor); releases exist as their files."""
    tickets.open_channel(svc.db, who, owner)
    return {"version": version, "full_name": f"{owner}/{name}/{version}", "distributions": []}


@router.delete("/release/{owner}/{name}/{version}", status_code=201, summary="Remove a release: delete all its files")
def remove_release(owner: str, name: str, version: str, svc: Svc, who: User, address: Address) -> Response:
    delete_package(svc.db, svc.storage, who, owner, name, version, address=address)
    return Response(status_code=201)


@router.get("/packages/{owner}", summary="The packages of a channel (`anaconda show OWNER`)")
def owner_packages(
    owner: str,
    svc: Svc,
    who: Caller,
    platform: str | None = Query(default=None, max_length=64, description="A subdir, e.g. linux-64"),
    package_type: str | None = Query(default=None, description="Package type: only `conda` has any"),
) -> list[dict[str, Any]]:
    if package_type not in (None, "conda"):
        return []
    return [shapes.summary(s) for s in catalog.channel_packages(svc.db, who, owner, platform)]


@router.get("/search", summary="`anaconda search`: packages by name, in every channel you can read")
def search(
    svc: Svc,
    who: Caller,
    name: str = Query(max_length=200, description="Part of the package name"),
    kind: str | None = Query(default=None, alias="type", description="Package type: only `conda` has any"),
    platform: str | None = Query(default=None, max_length=64, description="A subdir, e.g. linux-64"),
) -> list[dict[str, Any]]:
    if kind not in (None, "conda"):
        return []
    return [shapes.summary(s) for s in catalog.search(svc.db, who, name, platform)]


@router.post("/commit/{owner}/{name}/{version}/{basename:path}", summary="Finish a staged upload")
def commit(
    owner: str, name: str, version: str, basename: str, body: CommitIn, request: Request, svc: Svc, who: User
) -> dict[str, str]:
    ticket, arrived = tickets.find(svc.db, who, owner, body.dist_id)
    if not arrived:
        raise InvalidInput(f"{basename} never arrived: POST it to the post_url from stage first")
    view = "" if DEFAULT_LABEL in ticket.labels else f"/label/{ticket.labels[0]}"
    url = f"{_public_url(svc, request)}/{owner}{view}/{ticket.subdir}/{ticket.filename}"
    return {"url": url, "dist_id": ticket.id}
