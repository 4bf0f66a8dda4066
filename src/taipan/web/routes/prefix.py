"""The prefix.dev dialect: what ``rattler-build upload prefix`` and ``pixi upload`` send."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from taipan.errors import InvalidInput, NotFound
from taipan.packages.reindex import Reindexed, reindex_subdir
from taipan.packages.remove import delete_file
from taipan.web import uploads
from taipan.web.deps import Address, Caller, Svc

router = APIRouter(tags=["upload (prefix)"], route_class=uploads.DialectRoute)

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
    channel = _one_segment(channel)
    who = await uploads.authorized_uploader(request, channel)  # refuse before a single body byte is stored
    async with uploads.staging(request) as scope:
        form = await uploads.receive_body(request, scope, "either", file_fields=frozenset({"file"}))
        if not form.files:
            raise InvalidInput("the multipart body has no 'file' part")
        part = form.files[0]  # further file parts are not this dialect's: the scope drops them
        headers: Mapping[str, str] = request.headers if form.raw else part.headers
        filename = headers.get("x-file-name") or part.filename
        if not filename:
            raise InvalidInput("the file name is missing: send it in the X-File-Name header")
        stored = await uploads.ingest(
            request,
            scope,
            who,
            channel,
            filename,
            part.staged,
            expected_sha256=headers.get("x-file-sha256"),
            force=uploads.truthy(request.query_params.get("force")),
            labels=request.query_params.getlist("label") or None,
            attestation=form.fields.get("attestation"),  # a Sigstore bundle (rattler-build --attestation)
        )
    return JSONResponse(uploads.stored_body(stored), status_code=200)


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
