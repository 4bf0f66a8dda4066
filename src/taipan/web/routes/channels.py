"""JSON API for channels: settings, members, files, audit."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from taipan.accounts import audit
from taipan.accounts.principal import Role
from taipan.channels import members, service
from taipan.channels.access import require
from taipan.errors import InvalidInput
from taipan.packages.query import FileInfo, list_files
from taipan.services import Services
from taipan.web.deps import Address, Caller, Svc, User
from taipan.web.params import FileLimit, Limit, Offset

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class ChannelIn(BaseModel):
    name: str = Field(description="Lower-case letters, digits, '_', '.', '-' (CEP 26).", examples=["my-channel"])
    description: str = ""
    private: bool = False


class ChannelPatch(BaseModel):
    description: str | None = None
    private: bool | None = None


class SubdirOut(BaseModel):
    name: str
    files: int
    revision: int


class ChannelOut(BaseModel):
    name: str
    description: str
    private: bool
    owner: str | None
    role: str | None = Field(description="Your role in the channel (null when anonymous).")
    created_ms: int
    url: str
    subdirs: list[SubdirOut] = []


class MemberIn(BaseModel):
    role: str = Field(description="viewer or contributor (ownership moves by transfer).", examples=["viewer"])


class MemberOut(BaseModel):
    username: str
    role: str


class TransferIn(BaseModel):
    username: str


def _out(svc: Services, info: service.ChannelInfo) -> ChannelOut:
    return ChannelOut(
        name=info.name,
        description=info.description,
        private=info.private,
        owner=info.owner,
        role=info.role,
        created_ms=info.created_ms,
        url=f"{svc.settings.public_url}/{info.name}",
        subdirs=[SubdirOut(name=s.name, files=s.files, revision=s.revision) for s in info.subdirs],
    )


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@router.post("", status_code=201, summary="Create a channel (you become its owner)")
def create_channel(body: ChannelIn, svc: Svc, who: User) -> ChannelOut:
    return _out(svc, service.create_channel(svc.db, who, body.name, body.description, private=body.private))


@router.get("", summary="List the channels you can read")
def list_channels(svc: Svc, who: Caller) -> list[ChannelOut]:
    return [_out(svc, c) for c in service.list_channels(svc.db, who)]


@router.get("/{name}", summary="Show a channel and its subdirs")
def get_channel(name: str, svc: Svc, who: Caller) -> ChannelOut:
    return _out(svc, service.get_channel(svc.db, who, name))


@router.patch("/{name}", summary="Change a channel's description or visibility (owner)")
def update_channel(name: str, body: ChannelPatch, svc: Svc, who: Caller, address: Address) -> ChannelOut:
    info = service.update_channel(
        svc.db, who, name, description=body.description, private=body.private, address=address
    )
    return _out(svc, info)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a channel with its records and files (owner; repeat the name in ?confirm=)",
)
def delete_channel(name: str, svc: Svc, who: Caller, address: Address, confirm: str = "") -> Response:
    service.delete_channel(svc.db, svc.storage, who, name, confirm, address)
    return Response(status_code=204)


@router.get("/{name}/files", summary="List a channel's package files")
def get_files(
    name: str,
    svc: Svc,
    who: Caller,
    subdir: str | None = None,
    limit: FileLimit = 1000,
    offset: Offset = 0,
) -> list[FileInfo]:
    return list_files(svc.db, who, name, subdir, limit, offset)


@router.get("/{name}/members", summary="List members and their roles")
def get_members(name: str, svc: Svc, who: Caller) -> list[MemberOut]:
    return [MemberOut(username=m.username, role=m.role) for m in members.list_members(svc.db, who, name)]


@router.put("/{name}/members/{username}", summary="Add a member or change their role (owner)")
def put_member(name: str, username: str, body: MemberIn, svc: Svc, who: Caller, address: Address) -> MemberOut:
    member = members.set_member(svc.db, who, name, username, _role(body.role), address)
    return MemberOut(username=member.username, role=member.role)


@router.delete("/{name}/members/{username}", status_code=204, summary="Remove a member (owner)")
def delete_member(name: str, username: str, svc: Svc, who: Caller, address: Address) -> Response:
    members.remove_member(svc.db, who, name, username, address)
    return Response(status_code=204)


@router.post("/{name}/transfer", summary="Make another user the owner; you stay on as contributor")
def transfer(name: str, body: TransferIn, svc: Svc, who: Caller, address: Address) -> list[MemberOut]:
    members.transfer(svc.db, who, name, body.username, address)
    return [MemberOut(username=m.username, role=m.role) for m in members.list_members(svc.db, who, name)]


@router.get("/{name}/audit", summary="The channel's audit log, newest first (owner)")
def channel_audit(name: str, svc: Svc, who: Caller, limit: Limit = 100) -> list[audit.Event]:
    with svc.db.read() as session:
        ref = require(session, who, name, Role.OWNER)
    return audit.events(svc.db, channel=name, since_ms=ref.created_ms, limit=limit)
