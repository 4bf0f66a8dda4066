"""The Forgejo/Gitea conda registry dialect: ``/api/packages/{owner}/conda/...``.

How Forgejo's names map onto Taipan channels (docs/upload-dialects.md):

- ``/api/packages/{owner}/conda/{channel}/...`` is Taipan channel ``{channel}``; the owner
  is accepted and ignored (Taipan channels are server-wide, not per user).
- ``/api/packages/{owner}/conda/...`` (no channel) is Taipan channel ``{owner}``, in lower
  case (Forgejo matches owners without regard to case).
- A channel of several segments (Forgejo allows ``a/b``) has no Taipan equivalent: 404
  saying so.

Uploads are ``PUT .../[{channel}/]{file}`` with a raw body; Forgejo's answers are 201
(empty body), 400 for a package it refuses (Taipan's default is 422), 401 with
``WWW-Authenticate`` both without credentials and without write access, 409 for a
file that exists (peer-servers.md B.4). Those mappings live here only. Reads serve the
same files as ``/{channel}/{subdir}/...`` (shards and ``.zst`` too, which Forgejo itself
lacks), plus ``current_repodata.json[.bz2]``, which Forgejo serves as a copy of
``repodata.json[.bz2]``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from taipan.conda.names import EXTENSIONS, is_subdir
from taipan.errors import Forbidden, InvalidPackage, NotFound
from taipan.web import uploads
from taipan.web.deps import services
from taipan.web.errors import error_response
from taipan.web.receive import receive_raw
from taipan.web.routes import files

router = APIRouter(tags=["forgejo"])

BASE = "/api/packages/{owner}/conda"
# Forgejo serves current_repodata.json as an untrimmed copy of repodata.json.
ALIASES = {"current_repodata.json": "repodata.json", "current_repodata.json.bz2": "repodata.json.bz2"}
RAW_DOC = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.put(
    BASE + "/{path:path}",
    status_code=201,
    summary="Upload one package file (raw body), Forgejo style",
    description="`path` is `[{channel}/]{file}`. Answers 201 (empty), 400, 401, 409 as Forgejo does.",
    openapi_extra=RAW_DOC,
)
async def upload(owner: str, path: str, request: Request) -> Response:
    channel, (filename,) = _locate(owner, path, 1)
    if not filename.endswith(EXTENSIONS):
        raise NotFound(f"{filename!r} is not a package file name (.conda or .tar.bz2)")
    try:
        who = await uploads.authorized_uploader(request, channel)
        svc = services(request)
        staged = await receive_raw(request, svc.storage, svc.settings.max_upload_size)
        await uploads.ingest(request, who, channel, filename, staged)
    except InvalidPackage as exc:
        return error_response(400, str(exc))
    except Forbidden as exc:
        return error_response(401, str(exc))
    return Response(status_code=201)


@router.head(
    BASE + "/{path:path}",
    summary="Fetch an index file, shard or package, Forgejo style",
    description="`path` is `[{channel}/]{subdir}/{file}` or `[{channel}/]{subdir}/shards/{shard}`.",
)
@router.get(
    BASE + "/{path:path}",
    summary="Fetch an index file, shard or package, Forgejo style",
    description="`path` is `[{channel}/]{subdir}/{file}` or `[{channel}/]{subdir}/shards/{shard}`.",
)
def read(owner: str, path: str, request: Request) -> Response:
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 3 and segments[-2] == "shards" and is_subdir(segments[-3]):
        channel, (subdir, _, shard) = _locate(owner, path, 3)
        return files.shard(channel, subdir, shard, request)
    channel, (subdir, filename) = _locate(owner, path, 2)
    return files.channel_file(channel, subdir, ALIASES.get(filename, filename), request)


def _locate(owner: str, path: str, tail: int) -> tuple[str, list[str]]:
    """The Taipan channel of ``path`` and its last ``tail`` segments."""
    segments = [s for s in path.split("/") if s]
    if len(segments) < tail:
        raise NotFound(f"no such file: {path!r}")
    head, rest = segments[:-tail], segments[-tail:]
    if not head:
        return owner.lower(), rest
    if len(head) == 1:
        return head[0], rest
    last = head[-1]
    raise NotFound(
        f"there is no channel {'/'.join(head)!r}: Taipan channels are one path segment. "
        f"Use {BASE.format(owner=owner)}/{last}/... for channel {last!r}"
    )
