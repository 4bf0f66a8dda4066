"""The prefix.dev dialect: what ``rattler-build upload prefix`` and ``pixi upload`` send."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.errors import InvalidInput, NotFound
from taipan.packages.ingest import Staged, Stored
from taipan.packages.reindex import Reindexed, reindex_subdir
from taipan.packages.remove import delete_file
from taipan.web import auth, uploads
from taipan.web.deps import Address, Caller, Svc, services
from taipan.web.receive import receive_multipart, receive_raw

router = APIRouter(tags=["upload (prefix)"])

UPLOAD_DOC = {
    "requestBody": {
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "attestation": {"type": "string"},
                    },
                }
            },
        }
    },
    "parameters": [
        {"name": "X-File-Name", "in": "header", "schema": {"type": "string"}},
        {"name": "X-File-SHA256", "in": "header", "schema": {"type": "string"}},
    ],
}


@router.post(
    "/api/v1/upload/{channel:path}",
    summary="Upload one package file",
    description=(
        "Raw body with X-File-Name / X-File-SHA256 request headers, or multipart with a `file` part "
        "carrying those headers and an optional `attestation` part (a Sigstore bundle, served back at "
        "`<file>.sigstore.json`). `?force=true` replaces an existing file. Answers 200; 409 if the file exists."
    ),
    openapi_extra=UPLOAD_DOC,
)
async def upload(channel: str, request: Request) -> JSONResponse:
    svc = services(request)
    who = await run_in_threadpool(auth.principal, request, svc)
    channel = _one_segment(channel)
    # Refuse before a single body byte is stored.
    await run_in_threadpool(svc.ingestor.authorize, who, channel)
    limit = svc.settings.max_upload_size
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await receive_multipart(request, svc.storage, limit, frozenset({"file"}))
        extra = [p.staged for p in form.files[1:]]
        for staged in extra:
            await run_in_threadpool(svc.storage.delete, staged.key)
        if not form.files:
            raise InvalidInput("the multipart body has no 'file' part")
        part = form.files[0]
        filename = part.headers.get("x-file-name") or part.filename
        sha256 = part.headers.get("x-file-sha256")
        staged = part.staged
        attestation = form.fields.get("attestation")  # a Sigstore bundle (rattler-build --attestation)
    else:
        staged = await receive_raw(request, svc.storage, limit)
        filename = request.headers.get("x-file-name")
        sha256 = request.headers.get("x-file-sha256")
        attestation = None
    stored = await _ingest(request, who, channel, filename, staged, sha256, attestation)
    return JSONResponse(uploads.stored_body(stored), status_code=200)


async def _ingest(
    request: Request,
    who: Principal | None,
    channel: str,
    filename: str | None,
    staged: Staged,
    sha256: str | None,
    attestation: bytes | None = None,
) -> Stored:
    svc = services(request)
    if not filename:
        await run_in_threadpool(svc.storage.delete, staged.key)
        raise InvalidInput("the file name is missing: send it in the X-File-Name header")
    return await run_in_threadpool(
        lambda: svc.ingestor.ingest(
            who,
            channel,
            filename,
            staged,
            expected_sha256=sha256,
            force=uploads.truthy(request.query_params.get("force")),
            labels=request.query_params.getlist("label") or None,
            attestation=attestation,
        )
    )


@router.delete("/api/v1/delete/{channel:path}/{subdir}/{filename}", summary="Delete one package file")
def delete(channel: str, subdir: str, filename: str, svc: Svc, who: Caller, address: Address) -> JSONResponse:
    channel = _one_segment(channel)
    delete_file(svc.db, svc.storage, who, channel, subdir, filename, address)
    return JSONResponse({"deleted": f"{channel}/{subdir}/{filename}"})


@router.post(
    "/api/v1/reindex/{channel:path}/{subdir}",
    summary="Rebuild a subdir's index from the database (contributor)",
    description="Never needed for correctness: every upload and delete updates the index before it answers.",
)
def reindex(channel: str, subdir: str, svc: Svc, who: Caller) -> Reindexed:
    return reindex_subdir(svc.db, who, _one_segment(channel), subdir)


def _one_segment(channel: str) -> str:
    """The channel of a path that may carry several segments.

    rattler-build sends a namespaced prefix.dev channel (``--channel ns/chan``, or
    ``publish --to prefix://host/ns/chan``) as several path segments. Taipan channels
    have no namespace, so such a channel cannot exist: say so, and what to send instead.
    """
    name = channel.strip("/")
    if "/" in name:
        last = name.rsplit("/", 1)[1]
        raise NotFound(
            f"there is no channel {name!r}: Taipan channel names are one path segment, without a namespace. "
            f"Send the channel's name alone (e.g. --channel {last}); `taipan channel create {last}` makes it"
        )
    return name
