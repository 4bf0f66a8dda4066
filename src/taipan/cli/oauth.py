"""``taipan oauth``: the server's OAuth clients and token signing keys (administrators)."""

from __future__ import annotations

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options


@click.group()
def oauth() -> None:
    """OAuth provider: registered clients and signing keys (talks to --server as an administrator)."""


@oauth.command()
@server_options
def clients(server: str, token: str | None) -> None:
    """List the registered OAuth clients (`rattler` is built in)."""
    for item in Api(server, resolve_token(token)).call("GET", "/api/v1/oauth/clients").json():
        kind = "confidential" if item["confidential"] else "public"
        redirects = " ".join(item["redirect_uris"]) + (" +loopback" if item["loopback"] else "")
        click.echo(f"{item['client_id']}\t{item['name']}\t{kind}\t{redirects.strip()}")


@oauth.command(name="add-client")
@server_options
@click.argument("client_id")
@click.option("--name", required=True, help="Shown to users on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="An exact redirect URI (repeatable).")
@click.option("--loopback", is_flag=True, help="Also allow http://127.0.0.1:<any port>/ redirects (native apps).")
@click.option("--confidential", is_flag=True, help="Give the client a secret (printed once).")
def add_client(
    server: str,
    token: str | None,
    client_id: str,
    name: str,
    redirect_uris: tuple[str, ...],
    loopback: bool,
    confidential: bool,
) -> None:
    """Register OAuth client CLIENT_ID.

    \b
    Examples:
      taipan oauth add-client my-cli --name "My CLI" --loopback
      taipan oauth add-client portal --name Portal --redirect-uri https://portal.example/cb --confidential
    """
    body = {
        "client_id": client_id,
        "name": name,
        "redirect_uris": list(redirect_uris),
        "loopback": loopback,
        "confidential": confidential,
    }
    created = Api(server, resolve_token(token)).call("POST", "/api/v1/oauth/clients", json=body).json()
    click.echo(f"registered client {created['client_id']}")
    if created.get("client_secret"):
        click.echo(created["client_secret"])
        click.echo("(the client secret: store it now, it is not shown again)", err=True)


@oauth.command(name="remove-client")
@server_options
@click.argument("client_id")
def remove_client(server: str, token: str | None, client_id: str) -> None:
    """Unregister CLIENT_ID; every sign-in made through it is revoked."""
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/oauth/clients/{client_id}")
    click.echo(f"removed client {client_id}")


@oauth.command(name="rotate-keys")
@server_options
def rotate_keys(server: str, token: str | None) -> None:
    """Replace the token signing key now. Tokens signed with the old one stay valid until they expire."""
    rotated = Api(server, resolve_token(token)).call("POST", "/api/v1/oauth/keys/rotate").json()
    click.echo(f"new signing key {rotated['kid']}")
