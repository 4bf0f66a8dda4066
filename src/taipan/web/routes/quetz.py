"""The Quetz dialect: ``rattler-build upload quetz`` / ``pixi upload quetz`` and Quetz's own form upload.

Quetz answers 201, 406 for a SHA-256 mismatch and 400 for a package it refuses
(client-protocols.md §1.4); those two mappings live in this router's route class, not in
web/errors.py, because they are Quetz's and no other dialect's. Credentials come as ``X-API-Key`` (any form
Taipan knows works too).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from taipan.errors import ChecksumMismatch, InvalidInput, InvalidPackage, TaipanError
from taipan.web import uploads
from taipan.web.errors import error_response


class QuetzRoute(uploads.DialectRoute):
    """Quetz's codes: 406 "Wrong SHA256 checksum", 400 for any other package it refuses."""

    def answer(self, request: Request, exc: TaipanError) -> Response | None:
        if isinstance(exc, ChecksumMismatch):
            return error_response(406, str(exc))
        if isinstance(exc, InvalidPackage):
            return error_response(400, str(exc))
        return super().answer(request, exc)


router = APIRouter(tags=["upload (quetz)"], route_class=QuetzRoute)

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
    async with uploads.staging(request) as scope:
        form = await uploads.receive_body(request, scope, "raw")
        stored = await uploads.ingest(
            request,
            scope,
            who,
            channel,
            filename,
            form.files[0].staged,
            expected_sha256=sha256,
            force=uploads.truthy(force),
        )
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
    async with uploads.staging(request) as scope:
        form = await uploads.receive_body(request, scope, "multipart", file_fields=frozenset({"files"}))
        parts = [p for p in form.files if p.name == "files"]  # other file parts are dropped with the scope
        if not parts or not all(p.filename for p in parts):
            raise InvalidInput("send each package as a 'files' part with its file name")
        force = uploads.truthy(form.fields.get("force") or request.query_params.get("force"))
        stored = [
            await uploads.ingest(request, scope, who, channel, part.filename or "", part.staged, force=force)
            for part in parts
        ]
    return JSONResponse({"files": [uploads.stored_body(s) for s in stored]}, status_code=201)
