"""Run Taipan under uvicorn with several worker processes (``taipan serve`` runs one).

Settings come from the environment (TAIPAN_DATA_DIR, TAIPAN_PORT, ...), as for
``taipan serve``. The database is migrated and the admin token made once, here, before
the workers start; each worker then builds its app from the module-level factory.

    TAIPAN_DATA_DIR=/tmp/d TAIPAN_PORT=8123 .venv/bin/python bench/serve_workers.py --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from taipan.accounts.keys import ensure_admin_token
from taipan.db import migrate
from taipan.services import build_services
from taipan.settings import load_settings
from taipan.web.app import create_app


def make_app() -> FastAPI:
    """The factory each worker process calls (uvicorn ``factory=True``)."""
    return create_app(load_settings())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings()
    services = build_services(settings)
    migrate.upgrade(services.db)
    ensure_admin_token(services.db, settings.admin_token_file)
    services.close()
    uvicorn.run(
        "serve_workers:make_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
