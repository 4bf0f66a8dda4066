"""The upload page. With JavaScript, each dropped file goes to the upload API on its own
(``POST /api/v1/upload/{channel}``, the File itself as the body, so the browser streams
it from disk and reports progress). Without JavaScript the page's form posts here as
multipart, received by the same code every upload API uses (web/uploads.py); the files it
does not store — after a refusal, a bad CSRF token, a broken body — are removed with its
staging scope."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from taipan.accounts.principal import Role
from taipan.errors import Forbidden, TaipanError
from taipan.packages import read_model
from taipan.web import uploads
from taipan.web.deps import Svc, services
from taipan.web.ui import forms
from taipan.web.ui.forms import ViewerDep
from taipan.web.ui.pages import PageRoute, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Outcome:
    filename: str
    ok: bool
    message: str
    package: str = ""


def _upload_page(request: Request, svc: Svc, visitor: forms.Visitor, name: str, results: list[Outcome]) -> Response:
    visitor.user()
    view = read_model.channel_view(svc.db, visitor.who, name, counts=False)
    if view.role is None or view.role < Role.CONTRIBUTOR:
        raise Forbidden(f"uploading needs the contributor role in {name!r}")
    return page(request, visitor, "upload.html", channel=view, max_size=svc.settings.max_upload_size, results=results)


@router.get("/channels/{name}/upload")
def upload_page(request: Request, name: str, svc: Svc, visitor: ViewerDep) -> Response:
    return _upload_page(request, svc, visitor, name, [])


@router.post("/channels/{name}/upload")
async def upload_form(request: Request, name: str) -> Response:
    svc = services(request)
    visitor = await run_in_threadpool(forms.visitor, request)
    who = visitor.user()
    await run_in_threadpool(svc.ingestor.authorize, who, name)  # refuse before a byte is stored
    async with uploads.staging(request) as scope:  # whatever is not stored goes when it closes
        form = await uploads.receive_body(request, scope, "multipart", file_fields=frozenset({"file"}))
        token = form.fields.get(forms.CSRF_FIELD, b"").decode("utf-8", "replace")
        if not forms.check_csrf(visitor, token):
            raise Forbidden(forms.CSRF_REFUSED)
        force = form.fields.get("force", b"") == b"on"
        results = []
        for part in form.files:
            filename = part.filename or ""
            if not filename:  # an empty file input still sends a part
                continue
            try:
                stored = await uploads.ingest(request, scope, who, name, filename, part.staged, force=force)
            except TaipanError as exc:
                results.append(Outcome(filename, False, str(exc)))  # one file's refusal is shown, the rest go on
            else:
                done = f"stored as {stored.subdir}/{stored.filename}" + (" (replaced)" if stored.replaced else "")
                results.append(Outcome(filename, True, done, filename.rsplit("-", 2)[0]))
    return await run_in_threadpool(_upload_page, request, svc, visitor, name, results)
