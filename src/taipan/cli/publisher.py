"""``taipan channel publisher``: the CI identities trusted to upload to a channel with OIDC."""

from __future__ import annotations

import click

from taipan.cli.client import Api
from taipan.cli.options import resolve_token, server_options


@click.group()
def publisher() -> None:
    """Trusted publishers: let GitHub Actions, GitLab CI or Google Cloud upload without a stored key.

    \b
    Examples:
      taipan channel publisher add mychannel github --owner my-org --repository recipes --workflow release.yml
      taipan channel publisher add mychannel gitlab --namespace group --project recipes --environment release
      taipan channel publisher add mychannel google --email builder@proj.iam.gserviceaccount.com
    The CI job then runs `rattler-build upload prefix --url <this server> --channel mychannel ...`
    with no API key (GitHub needs `permissions: id-token: write`).
    """


@publisher.command(name="add")
@server_options
@click.argument("name")
@click.argument("provider", type=click.Choice(["github", "gitlab", "google"]))
@click.option("--owner", help="GitHub: the repository's owner (user or organisation).")
@click.option("--repository", help="GitHub: the repository's name (or owner/name).")
@click.option("--workflow", help="GitHub: the workflow's file name in .github/workflows/, e.g. release.yml.")
@click.option("--namespace", help="GitLab: the project's namespace (group/subgroup or user).")
@click.option("--project", help="GitLab: the project's name.")
@click.option("--config-path", help="GitLab: the CI config file in the project [default: .gitlab-ci.yml].")
@click.option("--environment", help="GitHub, GitLab: only jobs running in this deployment environment.")
@click.option("--email", help="Google: the service account's email.")
@click.option("--subject", help="Google: the service account's unique id (the token's sub).")
def add(server: str, token: str | None, name: str, provider: str, **fields: str | None) -> None:
    """Trust a CI identity to upload to channel NAME (owner)."""
    owner, repository = fields["owner"], fields["repository"]
    if provider == "github" and not owner and repository and "/" in repository:
        fields["owner"], _, fields["repository"] = repository.partition("/")
    if provider == "gitlab" and not fields["config_path"]:
        fields["config_path"] = ".gitlab-ci.yml"
    body = {"provider": provider, **{k: v for k, v in fields.items() if v}}
    made = Api(server, resolve_token(token)).call("POST", f"/api/v1/channels/{name}/publishers", json=body).json()
    click.echo(f"{made['id']}\t{made['description']}")


@publisher.command(name="list")
@server_options
@click.argument("name")
def list_(server: str, token: str | None, name: str) -> None:
    """List the trusted publishers of channel NAME (owner): id, then what it trusts."""
    for item in Api(server, resolve_token(token)).call("GET", f"/api/v1/channels/{name}/publishers").json():
        click.echo(f"{item['id']}\t{item['description']}")


@publisher.command(name="remove")
@server_options
@click.argument("name")
@click.argument("publisher_id", type=int)
def remove(server: str, token: str | None, name: str, publisher_id: int) -> None:
    """Stop trusting publisher PUBLISHER_ID (see `list`) in channel NAME; keys it minted expire within minutes."""
    Api(server, resolve_token(token)).call("DELETE", f"/api/v1/channels/{name}/publishers/{publisher_id}")
    click.echo(f"removed trusted publisher {publisher_id} from {name}")
