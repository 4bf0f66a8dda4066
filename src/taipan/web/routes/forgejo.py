"""The Forgejo/Gitea conda registry dialect: ``/api/packages/{owner}/conda/...``.

How Forgejo's names map onto Taipan channels (docs/upload-dialects.md):

- ``/api/packages/{owner}/conda/{channel}/...`` is Taipan channel ``{channel}``, and only
  while ``{owner}`` is that channel's owner (user names compare without regard to case,
  as Forgejo's owners do). A channel owned by someone else is not under this owner: 404
  naming the path to use. So an upload under another user's path never lands in a
  channel the caller merely has rights in.
- ``/api/packages/{owner}/conda/...`` (no channel) is Taipan channel ``{owner}`` in lower
  case, under the same rule.
- A channel of several segments (Forgejo allows ``a/b``) has no Taipan equivalent: 404
  saying so.

Uploads are ``PUT .../[{channel}/]{file}`` with a raw body. Forgejo has no "create"
step: the first upload to a channel that does not exist yet makes it, owned by the
caller with Taipan's defaults for a new channel (public; the same use-case as ``taipan
channel create`` and anaconda-client's first upload), when ``{owner}`` is the caller
and their credential may create channels. Under another owner's path nothing is made:
401, as Forgejo answers a caller who may not write to an owner's registry.

Forgejo's answers are 201 (empty body), 400 for a package it refuses (Taipan's default
is 422), 401 with ``WWW-Authenticate`` both without credentials and without write
access, 409 for a file that exists (peer-servers.md B.4); those mappings live in this
router's route class. Reads serve the same files as ``/{channel}/{subdir}/...`` (shards
and ``.zst`` too, which Forgejo itself lacks), plus ``current_repodata.json[.bz2]``,
which Forgejo serves as a copy of ``repodata.json[.bz2]``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from taipan.accounts.principal import Principal
from taipan.channels import service
from taipan.conda.names import EXTENSIONS, is_subdir
from taipan.errors import Forbidden, InvalidPackage, NotFound, TaipanError
from taipan.services import Services
from taipan.web import auth, uploads
from taipan.web.deps import services
from taipan.web.errors import error_response
from taipan.web.routes import files


class ForgejoRoute(uploads.DialectRoute):
    """Forgejo's codes: 400 for a refused package, 401 (not 403) without write access."""

    def answer(self, request: Request, exc: TaipanError) -> Response | None:
        if isinstance(exc, InvalidPackage):
            return error_response(400, str(exc))
        if isinstance(exc, Forbidden):
            return error_response(401, str(exc))
        return super().answer(request, exc)


router = APIRouter(tags=["forgejo"], route_class=ForgejoRoute)

BASE = "/api/packages/{owner}/conda"
# Forgejo serves current_repodata.json as an untrimmed copy of repodata.json.
ALIASES = {"current_repodata.json": "repodata.json", "current_repodata.json.bz2": "repodata.json.bz2"}
RAW_DOC = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
NEW_CHANNEL = "made by a Forgejo-style upload"


@router.put(
    BASE + "/{path:path}",
    status_code=201,
    summary="Upload one package file (raw body), Forgejo style",
    description="`path` is `[{channel}/]{file}`; `{owner}` must own the channel. A channel that does not "
    "exist yet is made for the caller when `{owner}` is the caller. Answers 201 (empty), 400, 401, 404, 409 "
    "as Forgejo does.",
    openapi_extra=RAW_DOC,
)
async def upload(owner: str, path: str, request: Request) -> Response:
    channel, (filename,) = _locate(owner, path, 1)
    if not filename.endswith(EXTENSIONS):
        raise NotFound(f"{filename!r} is not a package file name (.conda or .tar.bz2)")
    svc = services(request)
    who = await run_in_threadpool(auth.principal, request, svc)
    await run_in_threadpool(_owners_channel, svc, who, owner, channel, True)
    who = await uploads.authorized_uploader(request, channel)  # refuse before a single body byte is stored
    async with uploads.staging(request) as scope:
        staged = (await uploads.receive_body(request, scope, "raw")).files[0].staged
        await uploads.ingest(request, scope, who, channel, filename, staged)
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
    svc = services(request)
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 3 and segments[-2] == "shards" and is_subdir(segments[-3]):
        channel, (subdir, _, shard) = _locate(owner, path, 3)
        _owners_channel(svc, auth.principal(request, svc), owner, channel, False)
        return files.shard(channel, subdir, shard, request)
    channel, (subdir, filename) = _locate(owner, path, 2)
    _owners_channel(svc, auth.principal(request, svc), owner, channel, False)
    return files.channel_file(channel, subdir, ALIASES.get(filename, filename), request)


def _owners_channel(svc: Services, who: Principal | None, owner: str, channel: str, create: bool) -> None:
    """Raise unless ``channel`` is ``owner``'s; with ``create``, make it for an owner uploading to a new one."""
    try:
        info = service.get_channel(svc.db, who, channel)
    except NotFound:
        if not create or who is None:
            raise
        if who.username.lower() != owner.lower():
            raise Forbidden(
                f"only {owner!r} may make channels under {BASE.format(owner=owner)}; channel {channel!r} does not exist"
            ) from None
        info = service.create_or_get_channel(svc.db, who, channel, NEW_CHANNEL)
    if info.owner is None or info.owner.lower() != owner.lower():
        raise NotFound(
            f"there is no channel {channel!r} under {owner!r}: channel {channel!r} belongs to "
            f"{info.owner or 'nobody'!r}; use {BASE.format(owner=info.owner or owner)}/{channel}/..."
        )


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
