"""anaconda.org accounts: `anaconda login`, `logout`, `whoami`, `show USER`.

An anaconda.org "user" or "organization" is a Taipan channel of that name (or you).
`anaconda login` trades a user name and password for an API key of its own; `anaconda
logout` revokes exactly the key it presents. Taipan has no organizations.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from taipan.accounts import keys, users
from taipan.accounts.principal import Principal
from taipan.channels import service
from taipan.channels.tokens import create_key
from taipan.errors import InvalidInput
from taipan.services import Services
from taipan.web import auth
from taipan.web.deps import Address, Caller, Svc, User
from taipan.web.routes.anaconda_shapes import iso

router = APIRouter(prefix="/api", tags=["upload (anaconda.org)"])


@router.get("/user", summary="`anaconda whoami`: who you are")
def whoami(who: User, svc: Svc) -> dict[str, Any]:
    return _me(svc, who)


@router.get("/user/{owner}", summary="An owner: you, or a channel you can read (`anaconda show OWNER`)")
def owner(owner: str, svc: Svc, who: Caller) -> dict[str, Any]:
    if who is not None and who.username == owner:
        return _me(svc, who)
    channel = service.get_channel(svc.db, who, owner)  # raises as for any channel the caller can't see
    return {
        "login": owner,
        "name": owner,
        "user_type": "org",
        "description": channel.description,
        "created_at": iso(channel.created_ms),
    }


@router.get("/users/{login}/orgs", summary="A user's organizations: none (Taipan has channels, not organizations)")
def orgs(login: str) -> list[dict[str, str]]:
    return []


@router.get("/authentication-type", summary="Login kind: password")
def authentication_type() -> dict[str, str]:
    return {"authentication_type": "password"}


@router.post("/authentications", summary="`anaconda login`: trade a user name and password for an API key")
def authentications(request: Request, svc: Svc, address: Address) -> JSONResponse:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        # anaconda-client tries anaconda.com's unified login first, and falls back on exactly this.
        return JSONResponse({"error": "Bearer token authentication is not enabled"}, status_code=401)
    who = auth.require_user(request, svc)
    key, info = create_key(svc.db, who, "anaconda-client login", address=address)
    return JSONResponse({"token": key, "id": str(info.id), "user": who.username})


@router.delete(
    "/authentications", status_code=201, summary="`anaconda logout`: revoke the API key this request is sent with"
)
def logout(who: User, svc: Svc, address: Address) -> Response:
    if who.key_id is None:
        raise InvalidInput("this revokes the API key it is sent with: send the key (Authorization: token <key>)")
    keys.revoke(svc.db, who, who.key_id, address)
    return Response(status_code=201)


def _me(svc: Services, who: Principal) -> dict[str, Any]:
    created = users.get_user(svc.db, who.username).created_ms if who.user_id is not None else 0
    return {"login": who.username, "name": who.username, "user_type": "user", "created_at": iso(created)}
