"""anaconda.org "channels", which are Taipan's labels: `anaconda label --list/--show/--copy/--remove`.

anaconda-client calls a label a channel here: ``/api/channels/{owner}/{label}`` is label
``{label}`` of the Taipan channel ``{owner}``. Labels are never locked in Taipan (the lock
calls say so). These routes must come before the channel-file routes, which would otherwise
read ``/api/channels/x`` as the file ``x`` of subdir ``channels`` of a channel ``api``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from taipan.errors import InvalidInput
from taipan.packages import labels
from taipan.web.deps import Address, Caller, Svc

router = APIRouter(prefix="/api/channels/{owner}", tags=["upload (anaconda.org)"])


class RemoveIn(BaseModel):
    """What `anaconda label --remove` sends (all null): take the label off only these files."""

    package: str | None = None
    version: str | None = None
    basename: str | None = None


@router.get("", summary="`anaconda label --list`: the channel's labels")
def list_labels(owner: str, svc: Svc, who: Caller) -> dict[str, dict[str, Any]]:
    return {c.label: {"is_locked": False, "num_files": c.files} for c in labels.list_labels(svc.db, who, owner)}


@router.post("/{label:path}/lock", operation_id="anaconda_lock_label", summary="Lock a label: not in Taipan")
@router.delete("/{label:path}/lock", operation_id="anaconda_unlock_label", summary="Unlock a label: not in Taipan")
def lock(owner: str, label: str) -> None:
    raise InvalidInput("Taipan labels cannot be locked: keep writers out with channel roles instead")


@router.post(
    "/{label:path}/copy/{to:path}", status_code=201, summary="`anaconda label --copy`: give a label's files another"
)
def copy(owner: str, label: str, to: str, svc: Svc, who: Caller, address: Address) -> Response:
    labels.promote(svc.db, who, owner, label, to, address=address)
    return Response(status_code=201)


@router.get("/{label:path}", summary="`anaconda label --show`: the files of a label")
def show(owner: str, label: str, svc: Svc, who: Caller) -> dict[str, Any]:
    files = labels.label_files(svc.db, who, owner, label)
    return {
        "name": label,
        "is_locked": False,
        "files": [
            {
                "full_name": f"{owner}/{f.name}/{f.version}/{f.subdir}/{f.filename}",
                "basename": f"{f.subdir}/{f.filename}",
            }
            for f in files
        ],
    }


@router.delete("/{label:path}", status_code=201, summary="`anaconda label --remove`: take a label off its files")
def remove(owner: str, label: str, svc: Svc, who: Caller, address: Address, body: RemoveIn | None = None) -> Response:
    given = body or RemoveIn()
    labels.remove_label(
        svc.db, who, owner, label, name=given.package, version=given.version, basename=given.basename, address=address
    )
    return Response(status_code=201)
