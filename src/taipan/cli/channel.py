"""``taipan channel``: manage channels on a server."""

from __future__ import annotations

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options


@click.group()
def channel() -> None:
    """Create, list, show and delete channels (talks to --server)."""


@channel.command()
@server_options
@click.argument("name")
@click.option("--description", default="", help="What the channel holds.")
def create(server: str, token: str | None, name: str, description: str) -> None:
    """Create channel NAME (lower-case letters, digits, '_', '.', '-')."""
    body = (
        Api(server, resolve_token(token))
        .call("POST", "/api/v1/channels", json={"name": name, "description": description})
        .json()
    )
    click.echo(f"created {body['name']}: {body['url']}")


@channel.command(name="list")
@server_options
def list_(server: str, token: str | None) -> None:
    """List channels."""
    for item in Api(server, resolve_token(token)).call("GET", "/api/v1/channels").json():
        click.echo(f"{item['name']}\t{item['description']}")


@channel.command()
@server_options
@click.argument("name")
def show(server: str, token: str | None, name: str) -> None:
    """Show a channel's URL and subdirs."""
    body = Api(server, resolve_token(token)).call("GET", f"/api/v1/channels/{name}").json()
    visibility = "private" if body["private"] else "public"
    click.echo(f"{body['name']}  {body['url']}  ({visibility}, owner {body['owner']}, your role {body['role']})")
    if body["description"]:
        click.echo(f"  {body['description']}")
    for sub in body["subdirs"]:
        click.echo(f"  {sub['name']}: {sub['files']} files")


@channel.command()
@server_options
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(server: str, token: str | None, name: str, yes: bool) -> None:
    """Delete channel NAME with all its packages."""
    if not yes:
        click.confirm(f"Delete channel {name!r} and every package in it?", abort=True)
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/channels/{name}", params={"confirm": name})
    click.echo(f"deleted {name}")
