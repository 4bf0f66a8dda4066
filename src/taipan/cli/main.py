"""Entry point of the ``taipan`` command."""

from __future__ import annotations

import importlib

import click

from taipan import __version__

# Command name -> (module, attribute, one-line help). Modules load only when their command
# runs, so `taipan upload` does not pay for importing the web server.
COMMANDS = {
    "serve": ("taipan.cli.serve", "serve", "Start the server (creating or migrating the database first)."),
    "channel": (
        "taipan.cli.channel",
        "channel",
        "Create, list, show, change, delete channels; members; trusted publishers.",
    ),
    "upload": ("taipan.cli.upload", "upload", "Upload package files to a channel, with progress."),
    "token": ("taipan.cli.token", "token", "Create, list and revoke your API keys."),
    "label": ("taipan.cli.label", "label", "List, add, remove and promote package labels."),
    "user": ("taipan.cli.user", "user", "Create and list user accounts (on the server's machine)."),
    "import": ("taipan.cli.index", "import_", "Bulk-import a folder of packages into a channel."),
    "index": ("taipan.cli.index", "index", "Rebuild records and index files from storage."),
    "db": ("taipan.cli.serve", "db", "Manage the database schema."),
    "admin": ("taipan.cli.admin", "admin", "Print or reset the admin token."),
    "oauth": ("taipan.cli.oauth", "oauth", "OAuth provider: registered clients, signing key rotation."),
    "connect": ("taipan.cli.connect", "connect", "Point conda, mamba and pixi here at a server (keys, .condarc)."),
    "disconnect": ("taipan.cli.connect", "disconnect", "Undo connect: remove the keys, restore .condarc."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="taipan")
def cli() -> None:
    """Taipan: a self-hosted conda channel server.

    \b
    Quick start:
      taipan serve                                  # serves ./taipan-data at http://127.0.0.1:8000
      taipan channel create mychannel               # uses the local admin token
      taipan upload --channel mychannel pkg.conda   # then: pixi/conda/mamba -c http://127.0.0.1:8000/mychannel

    Every option can also be set with a TAIPAN_* environment variable or in a TOML file
    passed with --config (keys as the option names, e.g. data_dir = "/srv/taipan").
    """


def main() -> None:
    cli()
