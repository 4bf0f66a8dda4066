"""The anaconda.org ("binstar") dialect, under /api, for `anaconda upload` and rattler's anaconda target.

`anaconda -s http://HOST/api login` and `anaconda -s http://HOST/api upload -l dev pkg.conda`
work unchanged. The anaconda "owner" is the Taipan channel of that name (uploading as
yourself, without `-u`, makes a channel named after you on first use). anaconda.org
packages and releases have no separate existence here: they are the files of that name
(and version) in the channel, so creating them is a no-op that checks your rights.

The two-step upload: `stage` (authenticated) issues a single-use, short-lived ticket
whose secret travels in `form_data`; the client then POSTs the file to `post_url`
without credentials, and that POST is checked, stored and indexed like any upload. It
answers exactly 201, and failures come back as S3-style XML, which anaconda-client reads.
"""

from __future__ import annotations

import base64
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.channels import service
from taipan.channels.tokens import create_key
from taipan.conda.names import DEFAULT_LABEL
from taipan.errors import InvalidInput, NotFound, TaipanError
from taipan.packages import tickets
from taipan.packages.query import FileInfo, list_files
from taipan.packages.remove import delete_file
from taipan.services import Services
from taipan.web import auth
from taipan.web.deps import Address, Caller, Svc, User, services
from taipan.web.errors import status_for
from taipan.web.receive import receive_multipart

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])
UPLOAD_PATH = "/api/anaconda/upload"


class StageIn(BaseModel):
    distribution_type: str = "conda"
    channels: list[str] = []
    sha256: str | None = None
    attrs: dict[str, Any] = {}


class CommitIn(BaseModel):
    dist_id: str


@router.head("", summary="API root (anaconda-client checks it answers 200)")
@router.get("", summary="API root (anaconda-client checks it answers 200)")
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


@router.patch("/package/{owner}/{name}", summary="Create a package (a no-op)")
@router.post("/package/{owner}/{name}", summary="Create a package (a no-op)")
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


@router.patch("/release/{owner}/{name}/{version}", summary="Create a release (a no-op)")
@router.post("/release/{owner}/{name}/{version}", summary="Create a release (a no-op)")
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


@router.post(UPLOAD_PATH.removeprefix("/api"), status_code=201, summary="The S3-style upload (credentials: the ticket)")
async def upload(request: Request) -> Response:
    svc = services(request)
    spent: list[tuple[tickets.Ticket, Principal]] = []

    async def check_ticket(fields: dict[str, bytes]) -> None:
        secret = fields.get("ticket")
        if not secret:
            raise InvalidInput("the form must carry the ticket from stage, before the file")
        spent.append(await run_in_threadpool(tickets.redeem, svc.db, secret.decode("utf-8", "replace")))

    try:
        form = await receive_multipart(
            request, svc.storage, svc.settings.max_upload_size, frozenset({"file"}), before_file=check_ticket
        )
        if not form.files or not spent:
            raise InvalidInput("the form has no file part")
        for extra in form.files[1:]:
            await run_in_threadpool(svc.storage.delete, extra.staged.key)
        ticket, who = spent[0]
        staged = form.files[0].staged
        md5 = form.fields.get("Content-MD5")
        if md5 and base64.b64decode(md5) != bytes.fromhex(staged.hashes.md5):
            await run_in_threadpool(svc.storage.delete, staged.key)
            return _s3_error(400, "InvalidDigest", "the Content-MD5 you specified did not match what we received")
        await run_in_threadpool(
            lambda: svc.ingestor.ingest(
                who,
                ticket.channel,
                ticket.filename,
                staged,
                expected_sha256=ticket.sha256,
                expected_subdir=ticket.subdir,
                labels=ticket.labels,
            )
        )
    except TaipanError as exc:
        return _s3_error(status_for(exc), type(exc).__name__, str(exc))
    return Response(status_code=201)


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
    if "public_url" in svc.settings.model_fields_set:
        return svc.settings.public_url
    return str(request.base_url).rstrip("/")


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    return Response(xml, status_code=status, media_type="application/xml")
