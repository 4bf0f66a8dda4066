"""Drive py-rattler, the library inside pixi and rattler-build, as the judge of what Taipan serves.

py-rattler sometimes crashes at interpreter exit (see shared/reference/test-clients.md), so it
runs in a subprocess that prints its result as JSON and leaves with os._exit(0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = r"""
import asyncio, json, os, sys
import rattler
from rattler import Client, Gateway, SourceConfig

args = json.loads(sys.argv[1])

async def main():
    client = Client.default_client() if args.get("auth") else None
    config = SourceConfig(
        sharded_enabled=args["sharded"], zstd_enabled=args["zstd"], bz2_enabled=args["bz2"], cache_action="no-cache"
    )
    gateway = Gateway(cache_dir=args["cache"], default_config=config, client=client)
    records = await rattler.solve(
        sources=args["channels"], specs=args["specs"], gateway=gateway, platforms=args["platforms"]
    )
    def describe(r):
        sha = r.sha256.hex() if isinstance(r.sha256, bytes) else str(r.sha256)
        return {"name": r.name.normalized, "version": str(r.version), "build": str(r.build), "url": str(r.url),
                "sha256": sha}
    out = {"records": [describe(r) for r in records]}
    if args.get("prefix"):
        await rattler.install(records, target_prefix=args["prefix"], cache_dir=args["cache"] + "/pkgs",
                              show_progress=False, client=client)
        meta = os.path.join(args["prefix"], "conda-meta")
        out["installed"] = sorted(f for f in os.listdir(meta) if f.endswith(".json"))
    return out

try:
    result = {"ok": True, **asyncio.run(main())}
except Exception as exc:
    result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
sys.stdout.write(json.dumps(result) + "\n")
sys.stdout.flush()
os._exit(0)
"""


def solve(
    channels: list[str],
    specs: list[str],
    cache: Path,
    *,
    platforms: tuple[str, ...] = ("linux-64", "noarch"),
    prefix: Path | None = None,
    sharded: bool = True,
    zstd: bool = True,
    bz2: bool = True,
    home: Path | None = None,
    auth_file: Path | None = None,
    default_auth: bool = False,
) -> dict[str, Any]:
    """Solve (and install into ``prefix`` when given) with py-rattler; returns its JSON report.

    Credentials come from ``auth_file`` (RATTLER_AUTH_FILE), or with ``default_auth`` from
    where rattler looks by default under ``home`` (~/.rattler/credentials.json, ~/.netrc)."""
    args = {
        "channels": channels,
        "specs": specs,
        "cache": str(cache),
        "platforms": list(platforms),
        "prefix": str(prefix) if prefix else None,
        "sharded": sharded,
        "zstd": zstd,
        "bz2": bz2,
        "auth": auth_file is not None or default_auth,
    }
    env = {**os.environ, "HOME": str(home or cache)}
    env.pop("RATTLER_AUTH_FILE", None)
    if auth_file is not None:
        env["RATTLER_AUTH_FILE"] = str(auth_file)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args)], capture_output=True, text=True, env=env, timeout=300
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"py-rattler printed no result (exit {proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
