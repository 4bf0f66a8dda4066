"""What handlers share: the services of this app, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from taipan.accounts.principal import Principal
from taipan.services import Services
from taipan.web import auth


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def caller(request: Request) -> Principal | None:
    """The authenticated caller or None (anonymous); a bad credential is a 401."""
    return auth.principal(request, services(request))


def user(request: Request) -> Principal:
    return auth.require_user(request, services(request))


def admin(request: Request) -> Principal:
    return auth.require_admin(request, services(request))


def address(request: Request) -> str:
    return auth.client_address(request)


Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Principal | None, Depends(caller)]
User = Annotated[Principal, Depends(user)]
Admin = Annotated[Principal, Depends(admin)]
Address = Annotated[str, Depends(address)]
