"""The Quetz dialect: ``rattler-build upload quetz`` / ``pixi upload quetz`` and Quetz's own form upload.

Quetz answers 201, 406 for a SHA-256 mismatch and 400 for a package it refuses
(client-protocols.md §1.4); those two mappings live here, not in web/errors.py, because
they are Quetz's and no other dialect's. Credentials come as ``X-API-Key`` (any form
Taipan knows works too).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from taipan.accounts.principal import Principal
from taipan.errors import ChecksumMismatch, InvalidInput, InvalidPackage
from taipan.packages.ingest import Stored
from taipan.web import uploads
from taipan.web.deps import services
from taipan.web.errors import error_response
from taipan.web.receive import FilePart, receive_multipart, receive_raw

router = APIRouter(tags=["upload (quetz)"])

RAW_DOC = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
FORM_DOC = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "force": {"type": "boolean"},
                    },
                }
            }
        }
    }
}


@router.post(
    "/api/channels/{channel}/upload/{filename}",
    status_code=201,
    summary="Upload one package file (raw body)",
    description="Raw body, chunked or not. `sha256` is checked when given (406 on a mismatch); "
    "`force=true` replaces an existing file, otherwise it is a 409.",
    openapi_extra=RAW_DOC,
)
async def upload(
    channel: str, filename: str, request: Request, sha256: str | None = None, force: str | None = None
) -> JSONResponse:
    who = await uploads.authorized_uploader(request, channel)
    svc = services(request)
    staged = await receive_raw(request, svc.storage, svc.settings.max_upload_size)
    try:
        stored = await uploads.ingest(
            request, who, channel, filename, staged, expected_sha256=sha256, force=uploads.truthy(force)
        )
    except InvalidPackage as exc:
        return _refused(exc)
    return JSONResponse(uploads.stored_body(stored), status_code=201)


@router.post(
    "/api/channels/{channel}/files/",
    status_code=201,
    summary="Upload package files (multipart)",
    description="One `files` part per package (each with its file name), and an optional `force` field. "
    "Files are stored one by one, as Quetz does: when one fails, the ones before it stay.",
    openapi_extra=FORM_DOC,
)
async def upload_files(channel: str, request: Request) -> JSONResponse:
    who = await uploads.authorized_uploader(request, channel)
    svc = services(request)
    form = await receive_multipart(request, svc.storage, svc.settings.max_upload_size, frozenset({"files"}))
    parts = [p for p in form.files if p.name == "files"]
    await uploads.discard(request, [p.staged for p in form.files if p.name != "files"])
    if not parts or not all(p.filename for p in parts):
        await uploads.discard(request, [p.staged for p in parts])
        raise InvalidInput("send each package as a 'files' part with its file name")
    force = uploads.truthy(form.fields.get("force") or request.query_params.get("force"))
    try:
        stored = await _ingest_all(request, who, channel, parts, force)
    except InvalidPackage as exc:
        return _refused(exc)
    return JSONResponse({"files": [uploads.stored_body(s) for s in stored]}, status_code=201)


async def _ingest_all(
    request: Request, who: Principal | None, channel: str, parts: list[FilePart], force: bool
) -> list[Stored]:
    stored: list[Stored] = []
    for i, part in enumerate(parts):
        try:
            stored.append(await uploads.ingest(request, who, channel, part.filename or "", part.staged, force=force))
        except BaseException:
            # ingest removed this part's staged object; the parts not reached yet are removed here.
            await uploads.discard(request, [p.staged for p in parts[i + 1 :]])
            raise
    return stored


def _refused(exc: InvalidPackage) -> JSONResponse:
    """Quetz's codes: 406 "Wrong SHA256 checksum", 400 for any other package it refuses."""
    return error_response(406 if isinstance(exc, ChecksumMismatch) else 400, str(exc))
