"""The anaconda.org ("binstar") dialect, under /api, for `anaconda upload` and rattler's anaconda target.

`anaconda -s http://HOST/api login` and `anaconda -s http://HOST/api upload -l dev pkg.conda`
work unchanged. The anaconda "owner" is the Taipan channel of that name (uploading as
yourself, without `-u`, makes a channel named after you on first use). anaconda.org
packages and releases have no separate existence here: they are the files of that name
(and version) in the channel, so creating them is a no-op that checks your rights.

The two-step upload: `stage` (authenticated) issues a single-use, short-lived ticket
whose secret travels in `form_data`; the client then POSTs the file to `post_url`
without credentials (routes/anaconda_upload.py), and that POST is checked, stored and
indexed like any upload. It answers exactly 201, and failures come back as S3-style XML,
which anaconda-client reads.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from taipan.accounts.principal import Principal
from taipan.channels import service
from taipan.channels.tokens import create_key
from taipan.conda.names import DEFAULT_LABEL
from taipan.errors import InvalidInput, NotFound
from taipan.packages import tickets
from taipan.packages.query import FileInfo, list_files
from taipan.packages.remove import delete_file
from taipan.services import Services
from taipan.web import auth
from taipan.web.deps import Address, Caller, Svc, User
from taipan.web.routes.anaconda_upload import UPLOAD_PATH

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])
HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


class StageIn(BaseModel):
    distribution_type: str = "conda"
    channels: list[str] = []
    sha256: str | None = None
    attrs: dict[str, Any] = {}


class CommitIn(BaseModel):
    dist_id: str


@router.api_route("", methods=["GET", "HEAD"], summary="API root (anaconda-client checks it answers 200)")
def root() -> dict[str, str]:
    return {"name": "taipan", "api": "anaconda.org compatible subset"}


@router.get("/user", summary="Who you are, as anaconda-client asks")
def whoami(who: User) -> dict[str, str]:
    return {"login": who.username, "name": who.username, "user_type": "user"}


@router.get("/user/{owner}", summary="Does this owner (a Taipan channel or user) exist?")
def owner_exists(owner: str, svc: Svc, who: Caller) -> dict[str, str]:
    if who is not None and who.username == owner:
        return {"login": owner, "user_type": "user"}
    service.get_channel(svc.db, who, owner)  # raises as for any channel the caller can't see
    return {"login": owner, "user_type": "org"}


@router.get("/authentication-type", summary="Login kind: password")
def authentication_type() -> dict[str, str]:
    return {"authentication_type": "password"}


@router.post("/authentications", summary="`anaconda login`: trade a user name and password for an API key")
def authentications(request: Request, svc: Svc, address: Address) -> JSONResponse:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        # anaconda-client tries anaconda.com's unified login first, and falls back on exactly this.
        return JSONResponse({"error": "Bearer token authentication is not enabled"}, status_code=401)
    who = auth.require_user(request, svc)
    key, info = create_key(svc.db, who, "anaconda-client login", address=address)
    return JSONResponse({"token": key, "id": str(info.id), "user": who.username})


@router.get("/dist/{owner}/{name}/{version}/{basename:path}", summary="One file, if it exists")
def get_dist(owner: str, name: str, version: str, basename: str, svc: Svc, who: Caller) -> dict[str, Any]:
    subdir, filename = _split(basename)
    for info in list_files(svc.db, who, owner, subdir, limit=10_000):
        if info.filename == filename:
            return _dist(owner, info)
    raise NotFound(f"{basename} does not exist in channel {owner!r}")


@router.delete("/dist/{owner}/{name}/{version}/{basename:path}", summary="Delete one file (--force)")
def delete_dist(
    owner: str, name: str, version: str, basename: str, svc: Svc, who: Caller, address: Address
) -> dict[str, str]:
    subdir, filename = _split(basename)
    delete_file(svc.db, svc.storage, who, owner, subdir, filename, address)
    return {"removed": basename}


@router.get("/package/{owner}/{name}", summary="A package: the files of that name in the channel")
def get_package(owner: str, name: str, svc: Svc, who: Caller) -> dict[str, Any]:
    files = [f for f in _files(svc, who, owner) if f.name == name]
    if not files:
        raise NotFound(f"package {name!r} does not exist in channel {owner!r}")
    return {"name": name, "owner": owner, "package_types": ["conda"], "files": [_dist(owner, f) for f in files]}


@router.api_route("/package/{owner}/{name}", methods=["POST", "PATCH"], summary="Create a package (a no-op)")
def put_package(owner: str, name: str, svc: Svc, who: User) -> dict[str, Any]:
    _writable_channel(svc, who, owner)
    return {"name": name, "owner": owner, "package_types": ["conda"], "files": []}


@router.delete("/package/{owner}/{name}", status_code=201, summary="Remove an empty package (a no-op)")
def delete_package(owner: str, name: str, svc: Svc, who: User) -> dict[str, str]:
    _writable_channel(svc, who, owner)
    return {}


@router.get("/release/{owner}/{name}/{version}", summary="A release: the files of that name and version")
def get_release(owner: str, name: str, version: str, svc: Svc, who: Caller) -> dict[str, Any]:
    files = [f for f in _files(svc, who, owner) if f.name == name and f.version == version]
    if not files:
        raise NotFound(f"release {name} {version} does not exist in channel {owner!r}")
    return {"version": version, "distributions": [_dist(owner, f) for f in files]}


@router.api_route("/release/{owner}/{name}/{version}", methods=["POST", "PATCH"], summary="Create a release (a no-op)")
def put_release(owner: str, name: str, version: str, svc: Svc, who: User) -> dict[str, Any]:
    _writable_channel(svc, who, owner)
    return {"version": version, "distributions": []}


@router.delete("/release/{owner}/{name}/{version}", status_code=201, summary="Remove an empty release (a no-op)")
def delete_release(owner: str, name: str, version: str, svc: Svc, who: User) -> dict[str, str]:
    _writable_channel(svc, who, owner)
    return {}


@router.post("/stage/{owner}/{name}/{version}/{basename:path}", summary="Stage an upload: answers where to POST it")
def stage(
    owner: str, name: str, version: str, basename: str, body: StageIn, request: Request, svc: Svc, who: User
) -> dict[str, Any]:
    subdir, filename = _split(basename)
    _writable_channel(svc, who, owner)
    ticket, secret = tickets.issue(svc.db, who, owner, subdir, filename, body.channels, body.sha256)
    return {"post_url": _public_url(svc, request) + UPLOAD_PATH, "form_data": {"ticket": secret}, "dist_id": ticket.id}


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


def _split(basename: str) -> tuple[str, str]:
    subdir, sep, filename = basename.partition("/")
    if not sep or not filename or "/" in filename:
        raise InvalidInput(f"{basename!r} is not SUBDIR/FILENAME")
    return subdir, filename


def _files(svc: Services, who: Principal | None, owner: str) -> list[FileInfo]:
    return list_files(svc.db, who, owner, limit=10_000)


def _dist(owner: str, info: FileInfo) -> dict[str, Any]:
    return {
        "basename": f"{info.subdir}/{info.filename}",
        "owner": owner,
        "version": info.version,
        "sha256": info.sha256,
        "md5": info.md5,
        "size": info.size,
    }


def _writable_channel(svc: Services, who: Principal, owner: str) -> None:
    """The owner's channel must exist; uploading as yourself makes yours on first use."""
    try:
        service.get_channel(svc.db, who, owner)
    except NotFound:
        if owner != who.username:
            raise
        service.create_channel(svc.db, who, owner, "made by anaconda-client")


def _public_url(svc: Services, request: Request) -> str:
    """Where clients reach this server: the operator's ``public_url`` when set, else what this
    request was sent to (its Host; its scheme, which the server takes from X-Forwarded-Proto
    only when a trusted proxy sends it). A Host that is not a host name is not believed."""
    if "public_url" in svc.settings.model_fields_set:
        return svc.settings.public_url
    host = request.headers.get("host", "")
    if not HOST.fullmatch(host):
        return svc.settings.public_url
    return f"{request.url.scheme}://{host}"
