"""``taipan serve`` and ``taipan db``: run the server, manage the schema."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from taipan.accounts.keys import ensure_admin_token
from taipan.cli.options import make_settings, settings_options
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.metrics import MULTIPROC_ENV, multiprocess_dir
from taipan.services import build_services
from taipan.web import asgi, server
from taipan.web.app import create_app
from taipan.web.logs import log_config


@click.command()
@settings_options
@click.option("--host", help="Address to listen on [env TAIPAN_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env TAIPAN_PORT; default 8000].")
@click.option("--workers", type=int, help="Server processes to run [env TAIPAN_WORKERS; default 1].")
@click.option(
    "--migrate",
    "allow_migrate",
    is_flag=True,
    envvar="TAIPAN_MIGRATE",
    help="Apply pending migrations to a PostgreSQL database first [env TAIPAN_MIGRATE].",
)
def serve(
    config_file: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    allow_migrate: bool,
) -> None:
    """Start the server.

    \b
    With no settings at all this serves ./taipan-data (SQLite + a local folder) at
    http://127.0.0.1:8000. On first start it prints the admin token once; read it
    again any time with `taipan admin token`.

    \b
    The schema is created in an empty database, and an SQLite database is migrated
    on start. A PostgreSQL database behind this version is left alone: run
    `taipan db upgrade` (once, for every server sharing it), or start with --migrate.
    Several processes (--workers), and servers on several hosts, may share one
    PostgreSQL database and one s3:// bucket.
    """
    settings = make_settings(config_file, data_dir, host=host, port=port, workers=workers)
    _metrics_dir(settings.workers)  # before any metric exists in this process
    try:
        services = build_services(settings)
    except ValueError as exc:  # settings that do not fit together (storage URL, presigned downloads)
        raise click.UsageError(str(exc)) from exc
    try:
        with migrate.startup_lock(services.db):
            _prepare_schema(services.db, allow_migrate)
            token = ensure_admin_token(services.db, settings.admin_token_file)
    finally:
        if settings.workers > 1:
            services.close()  # each worker builds its own
    if token:
        click.echo(f"Admin token (shown once; also in {settings.admin_token_file}):\n  {token}")
    click.echo(f"Taipan serving {settings.data_dir} at {settings.public_url}  (API docs: {settings.public_url}/docs)")
    options: dict[str, Any] = {
        "log_config": log_config(settings),
        "log_level": settings.log_level,
        "access_log": False,  # ObserveMiddleware writes the access log when asked to
        "proxy_headers": False,  # taipan.web.proxies believes forwarded headers from trusted_proxies only
    }
    if settings.workers == 1:
        server.serve(create_app(settings, services), settings, **options)
        return
    _hand_settings_to_workers(config_file, data_dir, host, port)
    server.serve(f"{asgi.__name__}:create_app_from_env", settings, **options)


def _prepare_schema(db: Database, allow_migrate: bool) -> None:
    state = migrate.schema_state(db)
    if state == "current":
        return
    if state == "empty" or (state == "behind" and (db.is_sqlite or allow_migrate)):
        migrate.upgrade(db)
        return
    current, head = migrate.current_revision(db), migrate.head_revision(db)
    raise click.ClickException(
        {
            "behind": f"the database schema is at revision {current}; this Taipan needs {head}. "
            "Run `taipan db upgrade` (with the same settings), or start with `taipan serve --migrate`.",
            "ahead": f"the database schema is at revision {current}, which this Taipan ({head}) does not know: "
            "a newer Taipan migrated it. Upgrade this installation.",
            "foreign": "the database has tables but no Taipan schema version: "
            "point TAIPAN_DATABASE_URL at an empty database or at Taipan's own.",
        }[state]
    )


def _hand_settings_to_workers(
    config_file: Path | None, data_dir: Path | None, host: str | None, port: int | None
) -> None:
    """Worker processes read their settings from the environment: add this command's options to it."""
    given = {"CONFIG": config_file, "DATA_DIR": data_dir, "HOST": host, "PORT": port}
    if config_file is not None:
        os.environ.pop("TAIPAN_CONFIG_FILE", None)  # the older name of TAIPAN_CONFIG: --config wins over both
    os.environ.update({f"TAIPAN_{name}": str(value) for name, value in given.items() if value is not None})


def _metrics_dir(workers: int) -> None:
    """prometheus-client's multiprocess folder (PROMETHEUS_MULTIPROC_DIR), made and emptied.

    Several workers need one to sum their metrics: a temporary one is made when none is
    set. Values left by processes of an earlier start are removed.
    """
    folder = multiprocess_dir()
    if folder is None:
        if workers == 1:
            return
        folder = tempfile.mkdtemp(prefix="taipan-metrics-")
        os.environ[MULTIPROC_ENV] = folder
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()


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
