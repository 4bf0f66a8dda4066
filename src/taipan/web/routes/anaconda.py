"""The anaconda.org ("binstar") dialect, under /api: its two-step upload.

`anaconda upload` and rattler's anaconda target work unchanged (configure a site: see
docs/upload-dialects.md). The anaconda "owner" is the Taipan channel of that name (uploading
as yourself, without `-u`, makes a channel named after you on first use). The rest of the
dialect: accounts (`anaconda_accounts`), packages, releases, files and search
(`anaconda_packages`), labels (`anaconda_labels`); their JSON shapes in `anaconda_shapes`.

The two-step upload: `stage` (authenticated) issues a single-use, short-lived ticket
whose secret travels in `form_data`; the client then POSTs the file to `post_url`
without credentials (`anaconda_upload`), and that POST is checked, stored and indexed
like any upload. It answers exactly 201, and failures come back as S3-style XML, which
anaconda-client reads. `commit` (in `anaconda_packages`) then confirms it arrived.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from taipan.accounts.principal import Principal
from taipan.packages import tickets
from taipan.services import Services
from taipan.web.deps import Svc, User
from taipan.web.proxies import is_host
from taipan.web.routes.anaconda_shapes import split_basename as _split
from taipan.web.routes.anaconda_upload import UPLOAD_PATH

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])


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


def _writable_channel(svc: Services, who: Principal, owner: str) -> None:
    tickets.open_channel(svc.db, who, owner)


def _public_url(svc: Services, request: Request) -> str:
    """Where clients reach this server: the operator's ``public_url`` when set, else what this
    request was sent to (its Host; its scheme, which the server takes from X-Forwarded-Proto
    only when a trusted proxy sends it). A Host that is not a host name is not believed."""
    if "public_url" in svc.settings.model_fields_set:
        return svc.settings.public_url
    host = request.headers.get("host", "")
    if not is_host(host):
        return svc.settings.public_url
    return f"{request.url.scheme}://{host}"
