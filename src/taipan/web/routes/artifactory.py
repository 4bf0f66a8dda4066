"""The Artifactory dialect: ``rattler-build upload artifactory`` / ``pixi upload artifactory``.

``PUT /{channel}/{subdir}/{filename}`` with a raw body (chunked or not) and Basic or
Bearer credentials; 201 when stored (client-protocols.md §1.5). It shares its path with
the GET/HEAD channel file route: routing picks by method, so GET and HEAD still fetch
and other methods get 405.

Re-deploying the very same bytes answers 201 and changes nothing, as Artifactory does
for an identical checksum, so a re-run publish job succeeds; different bytes under an
existing name stay a 409 (Artifactory's client has no ``--force``: delete first).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.errors import NotFound
from taipan.packages.query import find_file
from taipan.web import uploads
from taipan.web.deps import services

router = APIRouter(tags=["upload (artifactory)"], route_class=uploads.DialectRoute)

RAW_DOC = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.put(
    "/{channel}/{subdir}/{filename}",
    status_code=201,
    summary="Deploy one package file (raw body)",
    description="The subdir in the path must be the package's own (index.json). 201 when stored, "
    "and when the same bytes are already there; 409 for different bytes under that name.",
    openapi_extra=RAW_DOC,
)
async def deploy(channel: str, subdir: str, filename: str, request: Request) -> JSONResponse:
    who = await uploads.authorized_uploader(request, channel)
    async with uploads.staging(request) as scope:
        staged = (await uploads.receive_body(request, scope, "raw")).files[0].staged
        if await run_in_threadpool(_holds, request, who, channel, subdir, filename, staged.hashes.sha256):
            body = {"channel": channel, "subdir": subdir, "filename": filename, "sha256": staged.hashes.sha256}
            return JSONResponse({**body, "size": staged.hashes.size, "replaced": False, "unchanged": True}, 201)
        stored = await uploads.ingest(request, scope, who, channel, filename, staged, expected_subdir=subdir)
    return JSONResponse(uploads.stored_body(stored), status_code=201)


def _holds(request: Request, who: Principal | None, channel: str, subdir: str, filename: str, sha256: str) -> bool:
    """Whether the channel already serves exactly these bytes under this name."""
    try:
        info, _ = find_file(services(request).db, who, channel, subdir, filename)
    except NotFound:
        return False
    return info.sha256 == sha256
