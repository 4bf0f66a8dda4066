"""``taipan channel``: manage channels on a server."""

from __future__ import annotations

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options
from taipan.cli.publisher import publisher


@click.group()
def channel() -> None:
    """Create, list, show and delete channels (talks to --server)."""


@channel.command()
@server_options
@click.argument("name")
@click.option("--description", default="", help="What the channel holds.")
@click.option("--private", is_flag=True, help="Only members can see or read it.")
def create(server: str, token: str | None, name: str, description: str, private: bool) -> None:
    """Create channel NAME (lower-case letters, digits, '_', '.', '-'); you become its owner."""
    body = {"name": name, "description": description, "private": private}
    made = Api(server, resolve_token(token)).call("POST", "/api/v1/channels", json=body).json()
    click.echo(f"created {'private' if made['private'] else 'public'} channel {made['name']}: {made['url']}")


@channel.command()
@server_options
@click.argument("name")
@click.option("--description", help="New description.")
@click.option("--private/--public", "private", default=None, help="Change who can read the channel.")
def update(server: str, token: str | None, name: str, description: str | None, private: bool | None) -> None:
    """Change channel NAME's description or visibility (owner)."""
    body = {"description": description, "private": private}
    result = Api(server, resolve_token(token)).call("PATCH", f"/api/v1/channels/{name}", json=body).json()
    click.echo(f"{result['name']}: {'private' if result['private'] else 'public'}")


@channel.command()
@server_options
@click.argument("name")
@click.argument("username")
def transfer(server: str, token: str | None, name: str, username: str) -> None:
    """Make USERNAME the owner of channel NAME; you stay on as a contributor."""
    Api(server, resolve_token(token)).call("POST", f"/api/v1/channels/{name}/transfer", json={"username": username})
    click.echo(f"{username} now owns {name}")


channel.add_command(publisher)


@channel.group()
def member() -> None:
    """List, add, change and remove channel members."""


@member.command(name="list")
@server_options
@click.argument("name")
def member_list(server: str, token: str | None, name: str) -> None:
    """List the members of channel NAME with their roles."""
    for item in Api(server, resolve_token(token)).call("GET", f"/api/v1/channels/{name}/members").json():
        click.echo(f"{item['username']}\t{item['role']}")


@member.command(name="add")
@server_options
@click.argument("name")
@click.argument("username")
@click.option("--role", type=click.Choice(["viewer", "contributor"]), default="viewer", show_default=True)
def member_add(server: str, token: str | None, name: str, username: str, role: str) -> None:
    """Add USERNAME to channel NAME, or change their role (owner)."""
    Api(server, resolve_token(token)).call("PUT", f"/api/v1/channels/{name}/members/{username}", json={"role": role})
    click.echo(f"{username} is {role} in {name}")


@member.command(name="remove")
@server_options
@click.argument("name")
@click.argument("username")
def member_remove(server: str, token: str | None, name: str, username: str) -> None:
    """Remove USERNAME from channel NAME (owner)."""
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/channels/{name}/members/{username}")
    click.echo(f"removed {username} from {name}")


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
