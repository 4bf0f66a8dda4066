"""JSON API for channels and their files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from taipan.channels import service
from taipan.packages.query import list_files
from taipan.services import Services
from taipan.web.auth import require_admin
from taipan.web.deps import services

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
Svc = Annotated[Services, Depends(services)]


class ChannelIn(BaseModel):
    name: str = Field(description="Lower-case letters, digits, '_', '.', '-' (CEP 26).", examples=["my-channel"])
    description: str = ""


class SubdirOut(BaseModel):
    name: str
    files: int
    revision: int


class ChannelOut(BaseModel):
    name: str
    description: str
    created_ms: int
    url: str
    subdirs: list[SubdirOut] = []


class FileOut(BaseModel):
    subdir: str
    filename: str
    name: str
    version: str
    build: str
    build_number: int
    sha256: str
    md5: str
    size: int
    indexed_timestamp: int
    uploaded_ms: int
    uploader: str | None


def _out(svc: Services, info: service.ChannelInfo) -> ChannelOut:
    return ChannelOut(
        name=info.name,
        description=info.description,
        created_ms=info.created_ms,
        url=f"{svc.settings.public_url}/{info.name}",
        subdirs=[SubdirOut(name=s.name, files=s.files, revision=s.revision) for s in info.subdirs],
    )


@router.post("", status_code=201, summary="Create a channel")
def create_channel(body: ChannelIn, request: Request, svc: Svc) -> ChannelOut:
    require_admin(request, svc.db)
    return _out(svc, service.create_channel(svc.db, body.name, body.description))


@router.get("", summary="List channels")
def list_channels(svc: Svc) -> list[ChannelOut]:
    return [_out(svc, c) for c in service.list_channels(svc.db)]


@router.get("/{name}", summary="Show a channel and its subdirs")
def get_channel(name: str, svc: Svc) -> ChannelOut:
    return _out(svc, service.get_channel(svc.db, name))


@router.delete("/{name}", status_code=204, summary="Delete a channel, its records and its files")
def delete_channel(name: str, request: Request, svc: Svc) -> Response:
    require_admin(request, svc.db)
    service.delete_channel(svc.db, svc.storage, name)
    return Response(status_code=204)


@router.get("/{name}/files", summary="List a channel's package files")
def get_files(
    name: str,
    svc: Svc,
    subdir: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FileOut]:
    return [FileOut(**vars(f)) for f in list_files(svc.db, name, subdir, limit, offset)]
