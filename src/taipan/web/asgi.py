"""The application as an import string, for servers that start their own worker processes.

``taipan serve --workers N`` runs this factory in :func:`taipan.web.server.serve` (uvicorn, ``--factory``):
each worker process calls the factory, which reads the settings the way the command did
(TAIPAN_* variables and the TOML file they name; the command exports its own options to
the environment before the workers start). Importing this module does nothing.
"""

from __future__ import annotations

from taipan.settings import load_settings
from taipan.web.app import create_app
from taipan.web.fastpath import FastIndexMiddleware


def create_app_from_env() -> FastIndexMiddleware:
    return create_app(load_settings())
