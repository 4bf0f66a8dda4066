"""Pages anyone may see (of what they may read): home, search, a channel, a package."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from taipan.accounts.principal import Role
from taipan.packages import read_model, search
from taipan.web.deps import Svc
from taipan.web.ui.forms import ViewerDep
from taipan.web.ui.pages import PageRoute, page, page_number

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, svc: Svc, visitor: ViewerDep) -> Response:
    channels = read_model.channels_page(svc.db, visitor.who, page_number(request.query_params.get("page")))
    return page(request, visitor, "home.html", channels=channels)


@router.get("/search")
def search_page(request: Request, svc: Svc, visitor: ViewerDep, q: str = "") -> Response:
    number = page_number(request.query_params.get("page"))
    results = search.search_packages(svc.db, visitor.who, q, number)
    return page(request, visitor, "search.html", q=read_model.normalize_query(q), results=results)


@router.get("/channels/{name}")
def channel(request: Request, name: str, svc: Svc, visitor: ViewerDep, q: str = "", subdir: str = "") -> Response:
    view = read_model.channel_view(svc.db, visitor.who, name)
    number = page_number(request.query_params.get("page"))
    packages = read_model.channel_packages(svc.db, visitor.who, name, query=q, subdir=subdir, number=number)
    return page(
        request,
        visitor,
        "channel.html",
        channel=view,
        packages=packages,
        filter_q=read_model.normalize_query(q),
        subdir=subdir,
        url=f"{svc.settings.public_url}/{name}",
        # rattler (pixi) matches stored credentials by host name only, without the port
        host=urlsplit(svc.settings.public_url).hostname or "",
        can_upload=view.role is not None and view.role >= Role.CONTRIBUTOR,
        is_owner=view.role == Role.OWNER,
    )


@router.get("/channels/{name}/packages/{package}")
def package(request: Request, name: str, package: str, svc: Svc, visitor: ViewerDep) -> Response:
    number = page_number(request.query_params.get("page"))
    detail = read_model.package_detail(svc.db, visitor.who, name, package, number, pending=svc.downloads.pending)
    return page(
        request,
        visitor,
        "package.html",
        pkg=detail,
        url=f"{svc.settings.public_url}/{name}",
        can_delete=detail.role is not None and detail.role >= Role.CONTRIBUTOR,
    )
