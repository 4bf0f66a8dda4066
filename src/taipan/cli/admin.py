"""``taipan admin``: server administration on the server's own machine."""

from __future__ import annotations

from pathlib import Path

import click

from taipan.accounts.keys import read_admin_token, reset_admin_token
from taipan.cli.options import make_settings, settings_options
from taipan.db import migrate
from taipan.services import build_services


@click.group()
def admin() -> None:
    """Administer the server (run on its machine, next to its data folder)."""


@admin.command()
@settings_options
@click.option("--reset", is_flag=True, help="Replace the admin token with a new one (the old one stops working).")
def token(config_file: Path | None, data_dir: Path | None, reset: bool) -> None:
    """Print the admin token.

    Send it as `Authorization: Bearer <token>`, or set TAIPAN_TOKEN for the CLI.
    """
    settings = make_settings(config_file, data_dir)
    if reset:
        services = build_services(settings)
        migrate.upgrade(services.db)
        click.echo(reset_admin_token(services.db, settings.admin_token_file))
        return
    value = read_admin_token(settings.admin_token_file)
    if value is None:
        raise click.ClickException(
            f"no admin token in {settings.admin_token_file}: start the server once, or run `taipan admin token --reset`"
        )
    click.echo(value)
