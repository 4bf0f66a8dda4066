"""``taipan token``: your API keys on a server."""

from __future__ import annotations

import datetime

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options


@click.group()
def token() -> None:
    """Create, list and revoke API keys (talks to --server as the owner of --token)."""


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@token.command()
@server_options
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The key can only read.")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="NAME[:ROLE]",
    help="Limit the key to this channel (repeatable), optionally up to ROLE (viewer, contributor, owner).",
)
@click.option("--expires-days", type=float, help="The key stops working after this many days.")
def create(
    server: str, token: str | None, name: str, read_only: bool, channels: tuple[str, ...], expires_days: float | None
) -> None:
    """Create an API key called NAME and print it (once: store it now).

    \b
    Examples:
      taipan token create laptop
      taipan token create ci --channel mychannel:contributor --expires-days 90
      taipan token create readers --channel mychannel --read-only
    Use a key as `Authorization: Bearer <key>`, in `/t/<key>/` channel URLs, or with
    `pixi auth login <host> --token <key>`.
    """
    scope = {}
    for item in channels:
        channel, _, role = item.partition(":")
        scope[channel] = role or None
    body = {"name": name, "read_only": read_only, "channels": scope or None, "expires_in_days": expires_days}
    created = Api(server, resolve_token(token)).call("POST", "/api/v1/tokens", json=body).json()
    click.echo(created["key"])
    click.echo(f"(key {created['id']}, expires {_when(created['expires_ms'])})", err=True)


@token.command(name="list")
@server_options
def list_(server: str, token: str | None) -> None:
    """List your keys (never the keys themselves), then your OAuth sessions."""
    api = Api(server, resolve_token(token))
    for item in api.call("GET", "/api/v1/tokens").json():
        state = "revoked" if item["revoked_ms"] else f"expires {_when(item['expires_ms'])}"
        scope = ",".join(f"{c}:{r}" for c, r in (item["channels"] or {}).items()) or "all channels"
        mode = "read-only" if item["read_only"] else "read-write"
        click.echo(f"{item['id']}\t{item['name']}\t{mode}\t{scope}\t{state}")
    _list_oauth_sessions(api)


@token.command()
@server_options
@click.argument("key_id", type=int)
def revoke(server: str, token: str | None, key_id: int) -> None:
    """Revoke key KEY_ID (see `taipan token list`); it stops working at once."""
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/tokens/{key_id}")
    click.echo(f"revoked key {key_id}")


# -- OAuth sessions (apps signed in with `pixi auth login --oauth`) ---------------------------


def _list_oauth_sessions(api: Api) -> None:
    for item in api.call("GET", "/api/v1/oauth/sessions").json():
        mode = "read-only" if item["read_only"] else "read-write"
        click.echo(
            f"oauth:{item['id']}\t{item['client_name']}\t{mode}\tall channels\t"
            f"signed in {_when(item['created_ms'])}, last refreshed {_when(item['last_used_ms'])}"
        )


@token.command(name="revoke-session")
@server_options
@click.argument("session_id")
def revoke_session(server: str, token: str | None, session_id: str) -> None:
    """Sign out OAuth session SESSION_ID (`oauth:N` in `taipan token list`); its tokens stop working at once."""
    number = session_id.removeprefix("oauth:")
    if not number.isdigit():
        raise click.BadParameter("give the session's number, e.g. oauth:12 or 12", param_hint="SESSION_ID")
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/oauth/sessions/{number}")
    click.echo(f"revoked OAuth session {number}")
