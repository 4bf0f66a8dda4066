"""JSON API for labels: list, add, remove, promote."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from taipan.packages import labels
from taipan.web.deps import Address, Caller, Svc

router = APIRouter(prefix="/api/v1/channels/{name}", tags=["labels"])


class PromoteIn(BaseModel):
    to: str = Field(default="main", description="The label to give every file of the source label.")
    move: bool = Field(default=False, description="Also take the source label away (a move, not a copy).")


class PromoteOut(BaseModel):
    files: int


@router.get("/labels", summary="Labels in use, with how many files carry each")
def list_labels(name: str, svc: Svc, who: Caller) -> list[labels.LabelCount]:
    return labels.list_labels(svc.db, who, name)


@router.get("/files/{subdir}/{filename}/labels", summary="The labels of one file")
def file_labels(name: str, subdir: str, filename: str, svc: Svc, who: Caller) -> list[str]:
    return labels.labels_of(svc.db, who, name, subdir, filename)


@router.put("/files/{subdir}/{filename}/labels/{label:path}", summary="Add a label to a file (contributor)")
def add_label(name: str, subdir: str, filename: str, label: str, svc: Svc, who: Caller, address: Address) -> list[str]:
    return labels.change_labels(svc.db, who, name, subdir, filename, add=(label,), address=address)


@router.delete("/files/{subdir}/{filename}/labels/{label:path}", summary="Remove a label from a file (contributor)")
def remove_label(
    name: str, subdir: str, filename: str, label: str, svc: Svc, who: Caller, address: Address
) -> list[str]:
    return labels.change_labels(svc.db, who, name, subdir, filename, remove=(label,), address=address)


@router.post("/labels/{label:path}/promote", summary="Give every file of a label another label, e.g. dev -> main")
def promote(name: str, label: str, body: PromoteIn, svc: Svc, who: Caller, address: Address) -> PromoteOut:
    return PromoteOut(files=labels.promote(svc.db, who, name, label, body.to, move=body.move, address=address))
