"""``taipan upload``: send package files to a server, streaming each one from disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from taipan.cli.client import Api, explain
from taipan.cli.options import resolve_token, server_options
from taipan.conda.names import EXTENSIONS

CHUNK = 1024 * 1024
# The server checks the whole archive before it answers, which takes a while for big files.
TIMEOUT = httpx.Timeout(60.0, read=900.0)
# These answers will not change for the next file: stop instead of failing each one.
FATAL_STATUS = frozenset({401, 403, 404})


@dataclass(frozen=True)
class Outcome:
    path: Path
    status: str  # uploaded, replaced, skipped or failed (and exists, until the caller says which)
    message: str = ""
    fatal: bool = False


@click.command()
@server_options
@click.option("--channel", "-c", required=True, help="Channel to upload to (it must exist).")
@click.option("--force", is_flag=True, help="Replace files that already exist in the channel.")
@click.option("--skip-existing", is_flag=True, help="Skip files that already exist in the channel, without failing.")
@click.option(
    "--label",
    "-l",
    "labels",
    multiple=True,
    help="Label the files (repeatable; default main). Serve them at /CHANNEL/label/LABEL/.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(
    server: str,
    token: str | None,
    channel: str,
    force: bool,
    skip_existing: bool,
    labels: tuple[str, ...],
    files: tuple[Path, ...],
) -> None:
    """Upload package FILES (.conda or .tar.bz2) to a channel on --server.

    Each file is hashed, then streamed (never read whole into memory); the server
    checks it completely and answers only once it is in the index, so a client can
    install it as soon as this command says "uploaded".

    \b
    Examples:
      taipan upload --channel mychannel dist/mytool-1.0-h0_0.conda
      taipan upload -c tools --skip-existing output/*/*.conda output/*/*.tar.bz2
      TAIPAN_TOKEN=taipan-... taipan upload --server https://conda.example.org -c tools --force pkg.conda
      taipan upload -c tools --label dev pkg.conda     # then promote: taipan label promote tools dev

    \b
    A file already in the channel fails the upload unless --skip-existing (report it
    as skipped) or --force (replace it). The exit status is 1 when any file failed;
    the others are still uploaded.
    """
    if force and skip_existing:
        raise click.UsageError("--force and --skip-existing exclude each other: choose one")
    console = Console(soft_wrap=True, highlight=False)
    on_exists = "skipped" if skip_existing else "failed"
    params: dict[str, str | list[str]] = {"label": list(labels)}
    if force:
        params["force"] = "true"
    outcomes = _upload_all(Api(server, resolve_token(token)).http, channel, files, params, on_exists, console)
    _summarise(console, outcomes, len(files))
    if any(o.status == "failed" for o in outcomes):
        raise click.exceptions.Exit(1)


def _upload_all(
    http: httpx.Client,
    channel: str,
    files: tuple[Path, ...],
    params: dict[str, str | list[str]],
    on_exists: str,
    console: Console,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    total = sum(path.stat().st_size for path in files)
    with _progress(console) as progress:
        overall = progress.add_task(f"{len(files)} file(s)", total=total)
        for path in files:
            task = progress.add_task(escape(path.name), total=path.stat().st_size)
            outcome = _upload_one(http, channel, path, params, progress, task, overall)
            if outcome.status == "exists":
                outcome = Outcome(path, on_exists, outcome.message)
            progress.remove_task(task)
            progress.console.print(_line(outcome))
            outcomes.append(outcome)
            if outcome.fatal:
                break
    return outcomes


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,  # no bars in logs; the per-file lines still say what happened
    )


def _upload_one(
    http: httpx.Client,
    channel: str,
    path: Path,
    params: dict[str, str | list[str]],
    progress: Progress,
    task: TaskID,
    overall: TaskID,
) -> Outcome:
    if not path.name.endswith(EXTENSIONS):
        return Outcome(path, "failed", "not a conda package: the name must end in .conda or .tar.bz2")
    size = path.stat().st_size
    progress.update(task, description=f"hashing   {escape(path.name)}")
    sha256 = _sha256(path, lambda n: progress.advance(task, n))
    # reset, not update: the speed samples of the hashing pass must not count for the upload
    progress.reset(task, total=size, description=f"uploading {escape(path.name)}")

    def sent(n: int) -> None:
        progress.advance(task, n)
        progress.advance(overall, n)

    headers = {
        "X-File-Name": path.name,
        "X-File-SHA256": sha256,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),  # so the server can refuse an oversized file at once
    }
    try:
        response = http.post(
            f"/api/v1/upload/{channel}", content=_chunks(path, sent), headers=headers, params=params, timeout=TIMEOUT
        )
    except httpx.ConnectError as exc:
        return Outcome(path, "failed", f"cannot reach {http.base_url}: {exc}", fatal=True)
    except httpx.HTTPError as exc:
        return Outcome(path, "failed", f"the upload broke off ({type(exc).__name__}: {exc})")
    return _outcome(path, response)


def _outcome(path: Path, response: httpx.Response) -> Outcome:
    if response.status_code == 200:
        return Outcome(path, "replaced" if response.json().get("replaced") else "uploaded")
    if response.status_code == 409:
        hint = " (pass --force to replace it, or --skip-existing to skip it)"
        return Outcome(path, "exists", explain(response) + hint)
    return Outcome(path, "failed", explain(response), response.status_code in FATAL_STATUS)


def _sha256(path: Path, advance: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            advance(len(chunk))
    return digest.hexdigest()


def _chunks(path: Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
            advance(len(chunk))


def _line(outcome: Outcome) -> str:
    name = escape(outcome.path.name)
    if outcome.status in ("uploaded", "replaced"):
        return f"[green]{outcome.status}[/green] {name}"
    if outcome.status == "skipped":
        return f"[yellow]skipped[/yellow]  {name}: already in the channel"
    return f"[red]failed[/red]   {name}: {escape(outcome.message)}"


def _summarise(console: Console, outcomes: list[Outcome], attempted: int) -> None:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("uploaded", "replaced", "skipped", "failed")}
    console.print("Summary: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("uploaded", "failed")))
    for o in outcomes:
        if o.status == "failed":
            console.print(f"[red]failed:[/red] {escape(o.path.name)}: {escape(o.message)}")
    if len(outcomes) < attempted:
        console.print(f"[red]stopped:[/red] {attempted - len(outcomes)} file(s) not attempted after that error")
