"""What conda clients fetch: ``/{channel}/{subdir}/{file}`` for index files, shards and packages.

Index files answer from the per-process build cache (see taipan.indexing.artifacts for
the cost model); a matching conditional request answers 304 after one indexed row
read, without building anything. HEAD never builds more than GET would, and is never
redirected. Packages stream from storage with byte-range support, or, when
``s3_presigned_downloads`` is on, a GET is redirected (302) to a short-lived presigned URL
of the object store; HEAD and index files are always answered here (repodata-formats §4.5).
"""

from __future__ import annotations

import hashlib
import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from taipan.conda.names import DEFAULT_LABEL
from taipan.errors import NotFound
from taipan.indexing.artifacts import INDEX_FILES, Kind, Streamed, SubdirState
from taipan.packages import objects
from taipan.packages.objects import ATTESTATION_SUFFIX
from taipan.packages.query import FileInfo, find_file, readable_subdir
from taipan.services import Services
from taipan.web import auth
from taipan.web.deps import services
from taipan.web.http_cache import Unsatisfiable, http_date, not_modified, parse_range

router = APIRouter(tags=["channel files"])

SHARD_RE = re.compile(r"^([0-9a-f]{64})\.msgpack\.zst$")
IMMUTABLE = "max-age=31536000, immutable"
# Packages may be replaced with --force, so they are not "immutable"; a day keeps proxies useful.
PACKAGE_CACHE = "max-age=86400"


def _cache(private: bool, policy: str) -> str:
    """Shared caches (proxies) may keep public channels' files, never private ones'."""
    return f"{'private' if private else 'public'}, {policy}"


CONTENT_TYPES = {
    "repodata.json": "application/json",
    "repodata.json.zst": "application/zstd",
    "repodata.json.bz2": "application/x-bzip2",
    "repodata_shards.msgpack.zst": "application/octet-stream",
}


# Label views come first: /{channel}/label/{label}/... must not be read as a subdir path.
@router.head(
    "/{channel}/label/{label:path}/{subdir}/shards/{filename}",
    summary="Fetch a repodata shard of a label",
)
@router.get(
    "/{channel}/label/{label:path}/{subdir}/shards/{filename}",
    summary="Fetch a repodata shard of a label",
)
def label_shard(channel: str, label: str, subdir: str, filename: str, request: Request) -> Response:
    return serve_shard(request, channel, subdir, filename, label)


@router.head(
    "/{channel}/label/{label:path}/{subdir}/{filename}",
    summary="Fetch an index file or package of a label",
)
@router.get(
    "/{channel}/label/{label:path}/{subdir}/{filename}",
    summary="Fetch an index file or package of a label",
)
def label_file(channel: str, label: str, subdir: str, filename: str, request: Request) -> Response:
    return serve_file(request, channel, subdir, filename, label)


@router.head("/{channel}/{subdir}/shards/{filename}", summary="Fetch a repodata shard")
@router.get("/{channel}/{subdir}/shards/{filename}", summary="Fetch a repodata shard")
def shard(channel: str, subdir: str, filename: str, request: Request) -> Response:
    return serve_shard(request, channel, subdir, filename, DEFAULT_LABEL)


@router.head("/{channel}/{subdir}/{filename}", summary="Fetch an index file or package")
@router.get("/{channel}/{subdir}/{filename}", summary="Fetch an index file or package")
def channel_file(channel: str, subdir: str, filename: str, request: Request) -> Response:
    return serve_file(request, channel, subdir, filename, DEFAULT_LABEL)


def serve_file(request: Request, channel: str, subdir: str, filename: str, label: str) -> Response:
    """An index file or a package of a channel's label view (``main`` is the plain channel)."""
    svc = services(request)
    who = auth.principal(request, svc)
    if filename in INDEX_FILES:
        state = readable_subdir(svc.db, svc.index, who, channel, subdir, label)
        return _index_file(svc, request, state, filename)
    if filename.endswith(ATTESTATION_SUFFIX):
        info, private = find_file(svc.db, who, channel, subdir, filename.removesuffix(ATTESTATION_SUFFIX), label)
        return _attestation(svc, request, channel, info, private)
    info, private = find_file(svc.db, who, channel, subdir, filename, label)
    return _package(svc, request, channel, info, private)


def _attestation(svc: Services, request: Request, channel: str, info: FileInfo, private: bool) -> Response:
    """The Sigstore bundle uploaded with a package, to whoever may read the package."""
    if not info.has_attestation:
        raise NotFound(f"{info.subdir}/{info.filename} has no attestation")
    key = objects.object_key(channel, info.subdir, info.filename, info.object_key)
    with svc.storage.open(objects.attestation_of(key)) as f:
        data = f.read()
    headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Cache-Control": _cache(private, PACKAGE_CACHE)}
    if not_modified(request, headers["ETag"], info.uploaded_ms):
        return Response(status_code=304, headers=headers)
    return _bytes(request, data, "application/json", headers)


def serve_shard(request: Request, channel: str, subdir: str, filename: str, label: str) -> Response:
    svc = services(request)
    state = readable_subdir(svc.db, svc.index, auth.principal(request, svc), channel, subdir, label)
    match = SHARD_RE.match(filename)
    if match is None:
        raise NotFound("no such shard")
    data = svc.index.shard(state, bytes.fromhex(match.group(1)))
    if data is None:
        raise NotFound("no such shard")
    headers = {"ETag": f'"{match.group(1)}"', "Cache-Control": _cache(state.private, IMMUTABLE)}
    if "if-none-match" in request.headers and not_modified(request, headers["ETag"], state.updated_ms):
        return Response(status_code=304, headers=headers)
    return _bytes(request, data, "application/octet-stream", headers)


def _index_file(svc: Services, request: Request, state: SubdirState, kind: Kind) -> Response:
    headers = _index_headers(svc, state, kind)
    if not_modified(request, state.etag(kind), state.updated_ms):
        return Response(status_code=304, headers=headers)
    built, data = svc.index.body(state, kind)
    if isinstance(data, Streamed):  # too large to hold decompressed: decompressed as it is sent
        streamed = {**_index_headers(svc, built, kind), "Content-Length": str(data.size)}
        if request.method == "HEAD":
            return Response(status_code=200, media_type=CONTENT_TYPES[kind], headers=streamed)
        return StreamingResponse(data.chunks(), media_type=CONTENT_TYPES[kind], headers=streamed)
    return _bytes(request, data, CONTENT_TYPES[kind], _index_headers(svc, built, kind))


def _index_headers(svc: Services, state: SubdirState, kind: Kind) -> dict[str, str]:
    return {
        "ETag": state.etag(kind),
        "Last-Modified": http_date(state.updated_ms),
        "Cache-Control": _cache(state.private, f"max-age={svc.settings.index_max_age}"),
    }


def _bytes(request: Request, data: bytes, media_type: str, headers: dict[str, str]) -> Response:
    if request.method == "HEAD":
        return Response(status_code=200, media_type=media_type, headers={**headers, "Content-Length": str(len(data))})
    return Response(content=data, media_type=media_type, headers=headers)


def _package(svc: Services, request: Request, channel: str, info: FileInfo, private: bool) -> Response:
    etag = f'"{info.sha256}"'
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(info.uploaded_ms),
        "Cache-Control": _cache(private, PACKAGE_CACHE),
        "Accept-Ranges": "bytes",
    }
    if not_modified(request, etag, info.uploaded_ms):
        return Response(status_code=304, headers=headers)
    try:
        byte_range = parse_range(request, info.size, etag)
    except Unsatisfiable:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{info.size}"})
    media_type = "application/x-bzip2" if info.filename.endswith(".tar.bz2") else "application/octet-stream"
    start, end, status = 0, info.size, 200
    if byte_range is not None:
        start, end, status = byte_range.start, byte_range.end, 206
        headers["Content-Range"] = byte_range.content_range(info.size)
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, media_type=media_type, headers=headers)
    if start == 0:  # a resumed download (a range further in) is not another download
        svc.downloads.add(channel, info.subdir, info.filename)
    # The object the record points at: never overwritten while it does, so these are its bytes.
    key = objects.object_key(channel, info.subdir, info.filename, info.object_key)
    if svc.presigner is not None:  # GET only: HEAD was answered above, and a URL signed for GET fails a HEAD
        svc.metrics.downloads.labels("redirect").inc()
        url = svc.presigner.presigned_url(key, svc.settings.s3_presign_expiry)
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    svc.metrics.downloads.labels("stream").inc()
    svc.metrics.download_bytes.inc(end - start)
    body = svc.storage.read_range(key, start, end)
    return StreamingResponse(body, status_code=status, media_type=media_type, headers=headers)
