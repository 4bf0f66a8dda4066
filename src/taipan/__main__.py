"""``python -m taipan`` is the ``taipan`` command."""

from taipan.cli.main import main

main()
