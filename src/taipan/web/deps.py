"""Small helpers handlers share: the services of this app."""

from __future__ import annotations

from starlette.requests import Request

from taipan.services import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
