"""The anaconda.org ("binstar") dialect, under /api: its two-step upload.

`anaconda upload` and rattler's anaconda target work unchanged (configure a site: see
docs/upload-dialects.md). The anaconda "owner" is the Taipan channel of that name (uploading
as yourself, without `-u`, makes a channel named after you on first use). The rest of the
dialect: accounts (`anaconda_accounts`), packages, releases, files and search
(`anaconda_packages`), labels (`anaconda_labels`); their JSON shapes in `anaconda_shapes`.

The two-step upload: `stage` (authenticated) issues a single-use, short-lived ticket
whose secret travels in `form_data`; the client then POSTs the file to `post_url`
without credentials, and that POST is checked, stored and indexed like any upload. It
answers exactly 201, and failures come back as S3-style XML, which anaconda-client reads.
`commit` (in `anaconda_packages`) then confirms it arrived.
"""

from __future__ import annotations

import base64
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.errors import InvalidInput, TaipanError
from taipan.packages import tickets
from taipan.services import Services
from taipan.web.deps import Svc, User, services
from taipan.web.errors import status_for
from taipan.web.receive import receive_multipart
from taipan.web.routes.anaconda_shapes import split_basename as _split

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])
UPLOAD_PATH = "/api/anaconda/upload"


class StageIn(BaseModel):
    distribution_type: str = "conda"
    channels: list[str] = []
    sha256: str | None = None
    attrs: dict[str, Any] = {}


@router.get("", operation_id="anaconda_root", summary="API root (anaconda-client checks it answers 200)")
@router.head("", operation_id="anaconda_root_head", summary="API root (anaconda-client checks it answers 200)")
def root() -> dict[str, str]:
    return {"name": "taipan", "api": "anaconda.org compatible subset"}


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


def _writable_channel(svc: Services, who: Principal, owner: str) -> None:
    tickets.open_channel(svc.db, who, owner)


def _public_url(svc: Services, request: Request) -> str:
    if "public_url" in svc.settings.model_fields_set:
        return svc.settings.public_url
    return str(request.base_url).rstrip("/")


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    return Response(xml, status_code=status, media_type="application/xml")
