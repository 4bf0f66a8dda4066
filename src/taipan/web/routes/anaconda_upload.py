"""anaconda.org's S3-style upload POST: the second step of `anaconda upload` (see routes/anaconda.py).

The POST carries no credentials: the form's ``ticket`` field (from ``stage``) is them.
It is checked as soon as it arrives, before anything else is held: a form without a
valid ticket in its first :data:`PRE_TICKET_BYTES` bytes, or whose file comes before
its ticket, is refused. The answer is exactly 201; failures are S3-style XML errors,
which anaconda-client reads, mapped by this router's route class.
"""

from __future__ import annotations

import base64
import binascii
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.errors import ChecksumMismatch, InvalidInput, TaipanError, TooLarge
from taipan.packages import tickets
from taipan.packages.staging import UploadTooSlow
from taipan.web import uploads
from taipan.web.deps import services
from taipan.web.errors import status_for
from taipan.web.receive import Gate

UPLOAD_PATH = "/api/anaconda/upload"
PRE_TICKET_BYTES = 8 * 1024
"""How much of a form may arrive before its ticket: the ticket is its first field."""
NO_TICKET = (
    f"the form must carry the ticket from stage as its first field, before the file "
    f"(within the first {PRE_TICKET_BYTES} bytes)"
)


class DigestMismatch(ChecksumMismatch):
    """The form's Content-MD5 is not the MD5 of the file received."""


class S3ErrorRoute(uploads.DialectRoute):
    """Every refusal as S3 answers one: ``<Error><Code>…</Code><Message>…</Message></Error>``."""

    def answer(self, request: Request, exc: TaipanError) -> Response | None:
        if isinstance(exc, DigestMismatch):
            return s3_error(400, "InvalidDigest", str(exc))
        if isinstance(exc, TooLarge):
            return s3_error(413, "EntityTooLarge", str(exc))
        if isinstance(exc, UploadTooSlow):
            return s3_error(408, "RequestTimeout", str(exc))
        return s3_error(status_for(exc), type(exc).__name__, str(exc))


router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"], route_class=S3ErrorRoute)


@router.post(
    UPLOAD_PATH.removeprefix("/api"),
    status_code=201,
    summary="The S3-style upload (credentials: the ticket)",
    description="multipart/form-data: `ticket` (from stage) first, optional `Content-MD5`, then `file`. "
    "Answers 201; refusals are S3 XML errors.",
)
async def upload(request: Request) -> Response:
    svc = services(request)
    spent: list[tuple[tickets.Ticket, Principal]] = []

    async def check_ticket(fields: dict[str, bytes]) -> bool:
        secret = fields.get("ticket")
        if not secret:
            return False
        spent.append(await run_in_threadpool(tickets.redeem, svc.db, secret.decode("utf-8", "replace")))
        return True

    gate = Gate(check_ticket, PRE_TICKET_BYTES, NO_TICKET)
    async with uploads.staging(request) as scope:
        form = await uploads.receive_body(request, scope, "multipart", file_fields=frozenset({"file"}), gate=gate)
        if not form.files:
            raise InvalidInput("the form has no file part")
        ticket, who = spent[0]
        staged = form.files[0].staged  # further file parts go with the scope
        _check_md5(form.fields.get("Content-MD5"), staged.hashes.md5)
        await uploads.ingest(
            request,
            scope,
            who,
            ticket.channel,
            ticket.filename,
            staged,
            expected_sha256=ticket.sha256,
            expected_subdir=ticket.subdir,
            labels=ticket.labels,
        )
    return Response(status_code=201)


def _check_md5(sent: bytes | None, received_hex: str) -> None:
    if not sent:
        return
    try:
        digest = base64.b64decode(sent, validate=True)
    except binascii.Error:
        raise DigestMismatch("the Content-MD5 you specified is not valid base64") from None
    if digest != bytes.fromhex(received_hex):
        raise DigestMismatch("the Content-MD5 you specified did not match what we received")


def s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    return Response(xml, status_code=status, media_type="application/xml")
