"""``taipan serve`` and ``taipan db``: run the server, manage the schema."""

from __future__ import annotations

from pathlib import Path

import click
import uvicorn

from taipan.accounts.keys import ensure_admin_token
from taipan.cli.options import make_settings, settings_options
from taipan.db import migrate
from taipan.packages.staging import sweep_staging
from taipan.services import build_services
from taipan.web.app import create_app


@click.command()
@settings_options
@click.option("--host", help="Address to listen on [env TAIPAN_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env TAIPAN_PORT; default 8000].")
def serve(config_file: Path | None, data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Start the server (creating or migrating the database first).

    \b
    With no settings at all this serves ./taipan-data (SQLite + a local folder) at
    http://127.0.0.1:8000. On first start it prints the admin token once; read it
    again any time with `taipan admin token`.
    """
    settings = make_settings(config_file, data_dir, host=host, port=port)
    services = build_services(settings)
    migrate.upgrade(services.db)
    sweep_staging(services.storage)
    token = ensure_admin_token(services.db, settings.admin_token_file)
    if token:
        click.echo(f"Admin token (shown once; also in {settings.admin_token_file}):\n  {token}")
    click.echo(f"Taipan serving {settings.data_dir} at {settings.public_url}  (API docs: {settings.public_url}/docs)")
    app = create_app(settings, services)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@settings_options
def upgrade(config_file: Path | None, data_dir: Path | None) -> None:
    """Apply every pending migration."""
    services = build_services(make_settings(config_file, data_dir))
    before = migrate.current_revision(services.db)
    migrate.upgrade(services.db)
    click.echo(f"database at revision {migrate.current_revision(services.db)} (was {before or 'empty'})")
