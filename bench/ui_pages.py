"""Server time of the web pages for a channel of 10k files (or --records N).

Seeds a data dir with ``taipan import`` (channel ``bench``: N/10 names of ten files each,
the shared synthetic set of bench/seed.py, plus one package ``wide`` with --wide files),
starts ``taipan serve`` (one process), signs in through the sign-in form, then times
each page: warm-up requests, then --repeat requests one after the other on a kept-alive
loopback connection. Prints per page the server's own time (its ``Server-Timing``
header: the route from dependencies to the rendered page) and the round trip.

    .venv/bin/python bench/ui_pages.py --records 10000
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

import seed  # bench/seed.py: shared helpers (run from the repository root)

PASSWORD = "bench password 1"


def wide_folder(root: Path, files: int) -> Path:
    """One package name with many files (versions x builds), the package page's worst case."""
    folder = root / "wide" / "linux-64"
    folder.mkdir(parents=True)
    for i in range(files):
        spec = seed.PackageSpec("wide", f"{i // 10}.{i % 10}", f"h{i:07x}_0", 0, "linux-64", ("libgcc >=13",), None)
        seed.write_package(spec, folder)
    return folder.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--wide", type=int, default=1_000, help="files of the one-name package")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    src = seed.REPO / "src"
    with seed.temp_dir("taipan-ui-bench-") as tmp:
        data = Path(tmp) / "data"
        env = {"PYTHONPATH": str(src), "TAIPAN_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
        started = time.perf_counter()
        for folder in (seed.package_folder(args.records), wide_folder(Path(tmp), args.wide)):
            subprocess.run(
                [seed.PYTHON, "-m", "taipan", "import", str(folder), "--channel", seed.CHANNEL, "--create"],
                env=env,
                check=True,
                capture_output=True,
            )
        seed.log(f"seeded {args.records + args.wide} files in {time.perf_counter() - started:.1f} s")
        port = seed.free_port()
        serve_env = {**env, "TAIPAN_PORT": str(port), "TAIPAN_SIGNUP": "open"}
        with open(Path(tmp) / "server.log", "wb") as out:
            proc = subprocess.Popen([seed.PYTHON, "-m", "taipan", "serve"], env=serve_env, stdout=out, stderr=out)
        try:
            rows = measure(f"http://127.0.0.1:{port}", data, args.repeat)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\n{seed.describe(src)} · {seed.machine()} · {args.records} + {args.wide} files in one channel\n")
    headers = ["page", "server p50 ms", "server p95 ms", "server max ms", "round trip p50 ms", "bytes"]
    print(seed.table(headers, rows))


def measure(url: str, data: Path, repeat: int) -> list[list[object]]:
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(600):
            try:
                if http.get("/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = (data / "admin-token").read_text().strip()
        admin = {"Authorization": f"Bearer {token}"}
        http.post("/api/v1/users", json={"username": "boss", "password": PASSWORD, "is_admin": True}, headers=admin)
        page = http.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        http.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": csrf})
        pages = {
            "home": "/",
            "channel": f"/channels/{seed.CHANNEL}",
            "channel, page 10": f"/channels/{seed.CHANNEL}?page=10",
            "channel, name filter": f"/channels/{seed.CHANNEL}?q=0004",
            "package (10 files)": f"/channels/{seed.CHANNEL}/packages/benchpkg-000123",
            "package (1000 files)": f"/channels/{seed.CHANNEL}/packages/wide",
            "package (1000 files), page 5": f"/channels/{seed.CHANNEL}/packages/wide?page=5",
            "search, broad": "/search?q=benchpkg-0001",
            "search, exact": "/search?q=benchpkg-000999",
            "upload page": f"/channels/{seed.CHANNEL}/upload",
            "settings page": f"/channels/{seed.CHANNEL}/settings",
            "API keys page": "/settings/keys",
        }
        rows: list[list[object]] = []
        for name, path in pages.items():
            for _ in range(5):
                response = http.get(path)
                assert response.status_code == 200, (path, response.status_code, response.text[:500])
            times, server = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                response = http.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                server.append(float(response.headers["server-timing"].split("dur=", 1)[1]))
            rows.append(
                [
                    name,
                    f"{seed.percentile(server, 50):.1f}",
                    f"{seed.percentile(server, 95):.1f}",
                    f"{max(server):.1f}",
                    f"{seed.percentile(times, 50):.1f}",
                    len(response.content),
                ]
            )
            seed.log(
                f"{name}: server p50 {seed.percentile(server, 50):.1f} ms, round trip {seed.percentile(times, 50):.1f}"
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())
