"""Options several commands share, and how they become Settings or a server connection."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from taipan.accounts.keys import read_admin_token
from taipan.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SERVER = "http://127.0.0.1:8000"


def settings_options(func: F) -> F:
    """--config and --data-dir, for commands that work on the local database and storage."""
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the database, packages and admin token [env TAIPAN_DATA_DIR; default ./taipan-data].",
    )(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="TOML file with settings [env TAIPAN_CONFIG].",
    )(func)
    return func


def make_settings(config_file: Path | None, data_dir: Path | None, **extra: Any) -> Settings:
    try:
        return load_settings(config_file=config_file, data_dir=data_dir, **extra)
    except Exception as exc:  # pydantic's message says which setting is wrong
        raise click.UsageError(f"bad settings: {exc}") from exc


def server_options(func: F) -> F:
    """--server and --token, for commands that talk to a running server over HTTP."""
    func = click.option(
        "--token",
        envvar="TAIPAN_TOKEN",
        help="API key [env TAIPAN_TOKEN; default: the local admin token in --data-dir].",
    )(func)
    func = click.option(
        "--server",
        envvar="TAIPAN_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        help="Base URL of the Taipan server [env TAIPAN_SERVER].",
    )(func)
    return func


def resolve_token(token: str | None) -> str | None:
    """An explicit token, else the admin token of the local data folder (when this is the server's machine)."""
    if token:
        return token
    data_dir = Path(os.environ.get("TAIPAN_DATA_DIR", "taipan-data"))
    return read_admin_token(data_dir / "admin-token")
