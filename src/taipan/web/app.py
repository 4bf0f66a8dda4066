"""Build the ASGI application. Importing this module does nothing; ``create_app`` does it all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from taipan import __version__
from taipan.db import migrate
from taipan.services import Services, build_services
from taipan.settings import Settings
from taipan.web import errors, uploads
from taipan.web.auth import TokenPathMiddleware
from taipan.web.fastpath import FastIndexMiddleware
from taipan.web.observe import ObserveMiddleware
from taipan.web.proxies import ForwardedMiddleware
from taipan.web.routes import (
    accounts,
    anaconda,
    anaconda_accounts,
    anaconda_labels,
    anaconda_packages,
    anaconda_upload,
    artifactory,
    channels,
    files,
    forgejo,
    health,
    labels,
    metrics,
    oauth,
    oidc,
    prefix,
    publishers,
    quetz,
)
from taipan.web.ui import site


def create_app(settings: Settings, services: Services | None = None) -> FastIndexMiddleware:
    """The ASGI application: the FastAPI app (``.app``) behind the index fast path."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services or build_services(settings)
        if not migrate.is_current(svc.db):
            raise RuntimeError("the database schema is not up to date: run `taipan db upgrade`")
        app.state.services = svc
        # Crash leftovers in staging: removed now, then periodically (web/uploads.py).
        sweeper = asyncio.create_task(uploads.sweep_periodically(uploads.staging_of(svc)))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            svc.metrics.process_exited()
            svc.downloads.flush()
            if services is None:
                svc.close()

    # /docs and /redoc with their scripts served from here (fastapi-offline), never a CDN.
    app = FastAPIOffline(
        static_url="/static/api-docs",
        title="Taipan",
        version=__version__,
        description="A self-hosted conda channel server.",
        lifespan=lifespan,
    )
    errors.install(app)
    site.install(app)  # web pages and /static: before the catch-all channel file routes
    # API routers first: the catch-all channel file routes come last. Artifactory's PUT shares
    # the files' path: routing picks by method, so its place before them only matters for PUT.
    routers = (
        health,
        metrics,
        accounts,
        channels,
        publishers,
        labels,
        oidc,
        oauth,
        prefix,
        anaconda,
        anaconda_accounts,
        anaconda_packages,
        anaconda_labels,
        anaconda_upload,
        quetz,
        forgejo,
        artifactory,
        files,
    )
    for module in routers:
        app.include_router(module.router)

    app.add_middleware(ObserveMiddleware, access_log=settings.access_log)  # inside: sees the path without a key
    app.add_middleware(TokenPathMiddleware)
    if settings.trusted_proxies:
        app.add_middleware(ForwardedMiddleware, trusted=settings.trusted_proxies)  # the real client
    # In front of it all: index files, shards and their 304s answered before FastAPI's stack.
    return FastIndexMiddleware(app, trusted_proxies=settings.trusted_proxies, access_log=settings.access_log)
