"""Add the web pages and their static files to an app."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from taipan.web.ui import account, browse, manage, oauth, upload
from taipan.web.ui.pages import STATIC_DIR, Templates


def install(app: FastAPI) -> None:
    """Pages and /static. Call before the catch-all channel file routes are added."""
    app.state.ui_templates = Templates()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (browse.router, account.router, manage.router, upload.router, oauth.router):
        app.include_router(router)
