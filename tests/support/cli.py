"""Run the ``taipan`` command inside the test process, as click's CliRunner does.

A ``python -m taipan`` subprocess spends over a second importing before it does anything;
tests that make a dozen calls each spent most of their time there. The command still talks
HTTP to the running server (or opens its database, for the local commands) exactly as from a
shell. ``python -m taipan`` itself stays tested in a subprocess (test_cli_upload.py,
test_channels.py::test_cli_help_teaches, and every ``serve``, ``index`` and ``import``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from click.testing import CliRunner

from taipan.cli.main import cli


def taipan(*args: str, env: Mapping[str, str | None], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``taipan ARGS`` with ``env`` added to this process's environment (None removes a variable);
    the answer has the shape ``subprocess.run(..., capture_output=True, text=True)`` gives."""
    result = CliRunner().invoke(cli, list(args), input=stdin, env=dict(env), catch_exceptions=False)
    return subprocess.CompletedProcess(["taipan", *args], result.exit_code, result.stdout, result.stderr)
