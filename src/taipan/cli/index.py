"""``taipan index rebuild`` and ``taipan import``: bulk work on the local database and storage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from taipan.cli.options import make_settings, settings_options
from taipan.db import migrate
from taipan.errors import NotFound, TaipanError
from taipan.packages.bulk.importing import import_folder
from taipan.packages.bulk.pool import Limits, default_workers
from taipan.packages.bulk.rebuild import rebuild_index
from taipan.packages.bulk.reporting import Problem
from taipan.services import Services, build_services
from taipan.settings import Settings
from taipan.storage.factory import storage_config

jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="number of CPUs",
    help="Worker processes that copy, hash and check packages (this one records them).",
)


class _Bar:
    """The bulk use-cases' Progress, drawn by rich."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=None)

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)


@contextmanager
def _local_services(config_file: Path | None, data_dir: Path | None) -> Iterator[Services]:
    services = build_services(make_settings(config_file, data_dir))
    try:
        migrate.upgrade(services.db)
        yield services
    finally:
        services.close()


@contextmanager
def _bar(console: Console, description: str) -> Iterator[_Bar]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        yield _Bar(progress, description)


def _console() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _limits(settings: Settings) -> Limits:
    return Limits(settings.max_upload_size, settings.max_unpacked_ratio)


def _print_problems(console: Console, problems: list[Problem]) -> None:
    for problem in problems:
        console.print(f"[red]skipped[/red] {escape(problem.location)}: {escape(problem.message)}")


@click.group()
def index() -> None:
    """Repair the index on the server's machine (works on --data-dir directly, no server needed)."""


@index.command()
@settings_options
@jobs_option
@click.option("--public", is_flag=True, help="Create missing channels public (default: private).")
@click.argument("channel", required=False)
def rebuild(config_file: Path | None, data_dir: Path | None, jobs: int, public: bool, channel: str | None) -> None:
    """Rebuild the records and index files of CHANNEL (default: every channel) from storage alone.

    Use it when the database is lost or out of step with the package files: every file
    at <channel>/<subdir>/<file> in storage is hashed and checked as an upload would be,
    and recorded where it lies, with the same indexed_timestamp as when it was uploaded,
    so the rebuilt repodata is the same as before. Records
    whose file is gone (or no longer valid) are removed. Invalid files are reported and
    left in storage. Safe to run while the server is up.

    Channels missing from the database are created without an owner, and private unless
    --public (who could read them and who owned them went with the database): an admin
    sets both.

    \b
    Examples:
      taipan index rebuild                          # every channel in ./taipan-data
      taipan index rebuild --public                 # ... and all of them were public
      taipan index rebuild mychannel --data-dir /srv/taipan
      TAIPAN_DATABASE_URL=postgresql+psycopg://... taipan index rebuild

    The exit status is 1 when any file was reported.
    """
    console = _console()
    started = time.monotonic()
    with _local_services(config_file, data_dir) as svc, _bar(console, "checking") as bar:
        try:
            report = rebuild_index(
                svc.db,
                svc.storage,
                _limits(svc.settings),
                channel=channel,
                public=public,
                storage_url=storage_config(svc.settings),
                workers=jobs,
                progress=bar,
            )
        except TaipanError as exc:
            raise click.ClickException(str(exc)) from exc
    visibility = "public" if public else "private"
    for name in report.created:
        console.print(f"created channel {escape(name)} ({visibility}, no owner: an admin can change both)")
    _print_problems(console, report.problems)
    for key in report.removed:
        console.print(f"removed record {escape(key)} (its file is gone or invalid)")
    console.print(
        f"Rebuilt {len(report.channels)} channel(s): {report.recorded} package(s) recorded, "
        f"{len(report.removed)} record(s) removed, {len(report.problems)} problem(s) "
        f"in {time.monotonic() - started:.1f}s"
    )
    if report.problems:
        raise click.exceptions.Exit(1)


@click.command(name="import")
@settings_options
@jobs_option
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--channel", "-c", required=True, help="Channel to import into.")
@click.option("--create", is_flag=True, help="Create the channel if it does not exist (no owner; admins manage it).")
@click.option("--private", is_flag=True, help="With --create: make the new channel private.")
@click.option("--force", is_flag=True, help="Replace files already in the channel (default: skip them).")
def import_(
    config_file: Path | None,
    data_dir: Path | None,
    jobs: int,
    folder: Path,
    channel: str,
    create: bool,
    private: bool,
    force: bool,
) -> None:
    """Import every .conda and .tar.bz2 under FOLDER into a channel, using all cores.

    FOLDER may be a conda channel (<subdir>/<file>: each file must be built for the
    subdir folder it is in) or any folder of packages (each goes to the subdir its
    info/index.json names). Files already in the channel are skipped, so running it
    again imports only what is new. Invalid files are reported and skipped. Works on
    --data-dir directly (no server needed; safe while one runs).

    \b
    Examples:
      taipan import ./mirror/conda-forge-subset --channel forge --create
      taipan import ~/rattler-build/output --channel tools --force
      taipan import /srv/old-channel -c legacy --data-dir /srv/taipan -j 8

    The exit status is 1 when any file was refused (the others are imported).
    """
    console = _console()
    started = time.monotonic()
    with _local_services(config_file, data_dir) as svc, _bar(console, "importing") as bar:
        try:
            report = import_folder(
                svc.db,
                svc.storage,
                folder,
                channel,
                _limits(svc.settings),
                force=force,
                create=create,
                private=private,
                storage_url=storage_config(svc.settings),
                workers=jobs,
                progress=bar,
            )
        except NotFound as exc:
            raise click.ClickException(f"{exc} (pass --create to create it)") from exc
        except TaipanError as exc:
            raise click.ClickException(str(exc)) from exc
    elapsed = time.monotonic() - started
    if report.created:
        console.print(f"created channel {escape(channel)} ({'private' if private else 'public'}, no owner)")
    _print_problems(console, report.problems)
    stored = report.imported + report.replaced
    console.print(
        f"Imported {report.imported}, replaced {report.replaced}, skipped {report.skipped} already in "
        f"{channel!r}, refused {len(report.problems)} of {report.found} file(s) in {elapsed:.1f}s "
        f"({stored / elapsed if elapsed else 0:.0f} packages/s)"
    )
    if report.problems:
        raise click.exceptions.Exit(1)
