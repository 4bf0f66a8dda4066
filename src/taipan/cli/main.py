"""Entry point of the ``taipan`` command."""

from __future__ import annotations

import click

from taipan import __version__
from taipan.cli.admin import admin
from taipan.cli.channel import channel
from taipan.cli.index import import_, index
from taipan.cli.serve import db, serve
from taipan.cli.token import token
from taipan.cli.upload import upload
from taipan.cli.user import user


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


cli.add_command(serve)
cli.add_command(db)
cli.add_command(admin)
cli.add_command(channel)
cli.add_command(upload)
cli.add_command(import_)
cli.add_command(index)
cli.add_command(user)
cli.add_command(token)


def main() -> None:
    cli()
