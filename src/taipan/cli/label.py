"""``taipan label``: label package files and promote labels (talks to --server)."""

from __future__ import annotations

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options


@click.group()
def label() -> None:
    """List, add, remove and promote labels (anaconda.org-style: `main` is the default).

    \b
    Each label is its own channel view:  https://HOST/CHANNEL/label/LABEL
    Files uploaded with `taipan upload --label dev` are only in the dev view until promoted.
    """


@label.command(name="list")
@server_options
@click.argument("channel")
def list_(server: str, token: str | None, channel: str) -> None:
    """The labels in CHANNEL, with how many files carry each."""
    for item in Api(server, resolve_token(token)).call("GET", f"/api/v1/channels/{channel}/labels").json():
        click.echo(f"{item['label']}\t{item['files']}")


def _split(file: str) -> tuple[str, str]:
    subdir, sep, filename = file.partition("/")
    if not sep or not filename:
        raise click.BadParameter("give the file as SUBDIR/FILENAME, e.g. noarch/pkg-1.0-0.conda")
    return subdir, filename


@label.command()
@server_options
@click.argument("channel")
@click.argument("file")
@click.argument("labels", nargs=-1, required=True)
def add(server: str, token: str | None, channel: str, file: str, labels: tuple[str, ...]) -> None:
    """Add LABELS to FILE (SUBDIR/FILENAME) of CHANNEL."""
    subdir, filename = _split(file)
    api = Api(server, resolve_token(token))
    now: list[str] = []
    for name in labels:
        now = api.call("PUT", f"/api/v1/channels/{channel}/files/{subdir}/{filename}/labels/{name}").json()
    click.echo(f"{file}: {', '.join(now)}")


@label.command()
@server_options
@click.argument("channel")
@click.argument("file")
@click.argument("labels", nargs=-1, required=True)
def remove(server: str, token: str | None, channel: str, file: str, labels: tuple[str, ...]) -> None:
    """Remove LABELS from FILE (SUBDIR/FILENAME) of CHANNEL (a file keeps at least one)."""
    subdir, filename = _split(file)
    api = Api(server, resolve_token(token))
    now: list[str] = []
    for name in labels:
        now = api.call("DELETE", f"/api/v1/channels/{channel}/files/{subdir}/{filename}/labels/{name}").json()
    click.echo(f"{file}: {', '.join(now)}")


@label.command()
@server_options
@click.argument("channel")
@click.argument("source")
@click.option("--to", "target", default="main", show_default=True, help="The label to give the files.")
@click.option("--move", is_flag=True, help="Also take SOURCE away (move instead of copy).")
def promote(server: str, token: str | None, channel: str, source: str, target: str, move: bool) -> None:
    """Give every file labelled SOURCE in CHANNEL the label --to (e.g. dev -> main)."""
    body = {"to": target, "move": move}
    result = Api(server, resolve_token(token)).call(
        "POST", f"/api/v1/channels/{channel}/labels/{source}/promote", json=body
    )
    click.echo(f"{'moved' if move else 'promoted'} {result.json()['files']} file(s) from {source} to {target}")
