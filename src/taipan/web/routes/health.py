"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from taipan.web.deps import services

router = APIRouter(tags=["operations"])


@router.get("/health/live", summary="The process answers")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="The database and storage answer")
def ready(request: Request) -> JSONResponse:
    svc = services(request)
    problems = {}
    for name, check in (("database", svc.db.check), ("storage", svc.storage.check)):
        try:
            check()
        except Exception as exc:  # any failure means not ready; say which part and why
            problems[name] = f"{type(exc).__name__}: {exc}"
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})
