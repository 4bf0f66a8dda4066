"""The ``taipan`` command, one module per command group."""
