"""``taipan user``: accounts, on the server's own database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from taipan.accounts import users
from taipan.cli.options import make_settings, settings_options
from taipan.db import migrate
from taipan.errors import TaipanError
from taipan.services import Services, build_services


@click.group()
def user() -> None:
    """Create and list user accounts (run on the server's machine, next to its data)."""


def _services(config_file: Path | None, data_dir: Path | None) -> Services:
    """The services, closed (database connections too) when the command ends."""
    services = build_services(make_settings(config_file, data_dir))
    click.get_current_context().call_on_close(services.close)
    return services


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@user.command()
@settings_options
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a server administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="No password login (the user works with API keys only).")
def create(
    config_file: Path | None, data_dir: Path | None, name: str, admin: bool, password_stdin: bool, no_password: bool
) -> None:
    """Create user NAME; the password comes from a prompt, or stdin with --password-stdin.

    \b
    Examples:
      taipan user create alice
      echo "$PASSWORD" | taipan user create ci-bot --password-stdin
    """
    services = _services(config_file, data_dir)
    migrate.upgrade(services.db)
    password = None if no_password else _read_password(password_stdin)
    try:
        info = users.create_user(services.db, name, password, is_admin=admin, actor="taipan-cli")
    except TaipanError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created user {info.username}{' (admin)' if info.is_admin else ''}")


@user.command(name="list")
@settings_options
def list_(config_file: Path | None, data_dir: Path | None) -> None:
    """List users."""
    services = _services(config_file, data_dir)
    for info in users.list_users(services.db):
        flags = ", ".join(f for f, on in (("admin", info.is_admin), ("no password", not info.has_password)) if on)
        click.echo(f"{info.username}{f'  ({flags})' if flags else ''}")


@user.command()
@settings_options
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
def password(config_file: Path | None, data_dir: Path | None, name: str, password_stdin: bool) -> None:
    """Set user NAME's password (an administrator's reset; users change their own in the UI or API)."""
    services = _services(config_file, data_dir)
    try:
        users.set_password(services.db, name, _read_password(password_stdin), actor="taipan-cli")
    except TaipanError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password of {name} changed")
