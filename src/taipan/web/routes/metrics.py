"""Prometheus metrics (see taipan.metrics for what is counted)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from taipan.metrics import CONTENT_TYPE
from taipan.web.deps import services

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics of this server (all its worker processes)")
def metrics(request: Request) -> Response:
    return Response(services(request).metrics.exposition(), media_type=CONTENT_TYPE)
