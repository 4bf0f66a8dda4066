"""The real anaconda-client (1.16), run as a user would, against a test server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.server import Server

ANACONDA = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parents[2] / ".venv")) / "bin" / "anaconda"


class Anaconda:
    """anaconda-client with its own home and config folder, pointed at the server's /api.

    anaconda-client 1.16 takes ``-s`` as a site alias, not a URL: a configured site it is."""

    def __init__(self, server: Server, home: Path) -> None:
        self.home = home
        # Telemetry off: anaconda-cli-base otherwise starts OpenTelemetry and sends every command
        # to Anaconda's servers (1.8 s a command here, and no test of Taipan's).
        self.env = {
            **os.environ,
            "HOME": str(home),
            "BINSTAR_CONFIG_DIR": str(home / "binstar"),
            "ANACONDA_TELEMETRY_ENABLED": "false",
        }
        for var in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN"):
            self.env.pop(var, None)
        home.mkdir(parents=True, exist_ok=True)
        # The first `config --set` may print a traceback; the value is written anyway (test-clients.md).
        self.run("config", "--set", "sites.taipan.url", f"{server.url}/api", check=False)
        self.run("config", "--set", "default_site", "taipan")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(ANACONDA), *args], capture_output=True, text=True, env=self.env, timeout=180)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def out(self, *args: str) -> str:
        """What the command says (anaconda-client logs to stderr), after checking it succeeded."""
        done = self.run(*args)
        return done.stdout + done.stderr

    def token(self) -> str | None:
        """The key `anaconda login` stored, if any."""
        found = sorted(self.home.rglob("*.token"))
        return found[0].read_text().strip() if found else None
