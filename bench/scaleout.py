"""The core benchmarks again, on each backend: SQLite + a local folder, and PostgreSQL + S3.

For each backend and channel size N (``.conda`` packages of ~1 KB, ten records per name,
in ``linux-64``), on a fresh database and storage:

* import rate: ``taipan import`` of the N-package folder (default ``-j``), packages/s;
* upload latency: 20 sequential uploads into the N-record subdir; the upload request, then
  the first fetch that shows the new package — shard index + its shard, repodata.json,
  repodata.json.zst (built lazily after the change);
* serve rate: ``wrk -c32 -t2`` on repodata.json.zst and the shard index of the N-record
  subdir, 200s and conditional 304s, one server process and ``--workers 2``;
* three processes: 60 concurrent uploads spread over three ``taipan serve`` processes
  sharing the database and storage, wall time and per-upload latency.

S3 is moto's server (``moto[server]``) on loopback: a Python stand-in, slower than a real
store per request but with no network in between — figures show Taipan's cost of talking
S3, not an object store's speed. PostgreSQL is the one at ``TAIPAN_TEST_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``).

    .venv/bin/python bench/scaleout.py --records 1000 10000
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgpack
import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.s3 import s3_server  # noqa: E402 - the repository root goes on the path first
from tests.support.server import POSTGRES_ADMIN_URL, free_port  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python")
CACHE = Path(os.environ.get("TAIPAN_BENCH_CACHE", "/tmp/taipan-bench-cache"))
CHANNEL = "bench"
SUBDIR = "linux-64"
BACKENDS = ("sqlite", "postgresql-s3")


# ---------------------------------------------------------------- packages


def package_bytes(name: str, version: str, timestamp: int) -> bytes:
    """A valid ``.conda`` archive (what Taipan's checks accept), written directly: cheap in bulk."""
    stem = f"{name}-{version}-h0_0"
    payload, payload_path = f"{name} {version}\n".encode(), f"share/{name}/{name}.txt"
    index = {
        "name": name,
        "version": version,
        "build": "h0_0",
        "build_number": 0,
        "subdir": SUBDIR,
        "depends": ["libgcc >=13", f"dep{len(name)} >=1.0"],
        "license": "BSD-3-Clause",
        "timestamp": timestamp,
    }
    path = {"_path": payload_path, "path_type": "hardlink", "size_in_bytes": len(payload)}
    path["sha256"] = hashlib.sha256(payload).hexdigest()
    info = [
        ("info/index.json", json.dumps(index).encode()),
        ("info/paths.json", json.dumps({"paths": [path], "paths_version": 1}).encode()),
        ("info/about.json", json.dumps({"summary": f"{name}, a benchmark package"}).encode()),
    ]
    zstd = zstandard.ZstdCompressor(level=3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{stem}.tar.zst", zstd.compress(_tar(info)))
        zf.writestr(f"pkg-{stem}.tar.zst", zstd.compress(_tar([(payload_path, payload)])))
    return buf.getvalue()


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def package_folder(n: int) -> Path:
    """N packages laid out as a channel (``linux-64/``, empty ``noarch/``), cached."""
    folder = CACHE / f"scaleout-pkgs-{n}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "noarch").mkdir(parents=True)
    (folder / SUBDIR).mkdir()
    names = max(1, n // 10)
    for i in range(n):
        name, version = f"pkg{i % names}", f"1.{i // names}.0"
        (folder / SUBDIR / f"{name}-{version}-h0_0.conda").write_bytes(package_bytes(name, version, 1_700_000_000_000))
    (folder / ".complete").write_text(f"{n}\n")
    return folder


# ---------------------------------------------------------------- backends and servers


@dataclass
class Site:
    """One database + storage, and the environment a ``taipan`` process needs to use them."""

    data_dir: Path
    env: dict[str, str]

    def serve(self, workers: int = 1) -> AbstractContextManager[Server]:
        return _serve(self, workers)


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=300)


@contextmanager
def site(backend: str, tmp: Path, src: Path | None = None) -> Iterator[Site]:
    """A fresh database + storage; ``src``: run the ``taipan`` code in that folder (default: the checkout's)."""
    data_dir = tmp / f"data-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIPAN_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as in any installed program
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env |= {"TAIPAN_DATA_DIR": str(data_dir), "TAIPAN_LOG_LEVEL": "warning", "TAIPAN_HOST": "127.0.0.1"}
    if backend == "sqlite":
        yield Site(data_dir, env)
        return
    import psycopg

    name = f"taipan_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    s3 = s3_server()
    env |= s3.env(s3.new_bucket())
    env["TAIPAN_DATABASE_URL"] = (
        f"postgresql+psycopg://{POSTGRES_ADMIN_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    )
    try:
        yield Site(data_dir, env)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _serve(site: Site, workers: int) -> Iterator[Server]:
    port = free_port()
    env = {**site.env, "TAIPAN_PORT": str(port), "TAIPAN_WORKERS": str(workers)}
    log = site.data_dir / f"server-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([PYTHON, "-m", "taipan", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"taipan serve did not start:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Server(url, (site.data_dir / "admin-token").read_text().strip(), proc)
    finally:
        proc.terminate()
        proc.wait(60)


# ---------------------------------------------------------------- measurements


def import_rate(site: Site, server: Server, n: int) -> float:
    with server.client() as http:
        http.post("/api/v1/channels", json={"name": CHANNEL}).raise_for_status()
    started = time.monotonic()
    cmd = [PYTHON, "-m", "taipan", "import", str(package_folder(n)), "--channel", CHANNEL]
    result = subprocess.run(cmd, env=site.env, capture_output=True, text=True, timeout=3600)
    took = time.monotonic() - started
    if result.returncode != 0 or f"Imported {n}," not in result.stdout:
        raise RuntimeError(result.stdout + result.stderr)
    return n / took


def _until(http: httpx.Client, check: Callable[[httpx.Client], bool]) -> float:
    started = time.perf_counter()
    for _ in range(1000):
        if check(http):
            return (time.perf_counter() - started) * 1000
    raise RuntimeError("never became visible")


def upload_latency(server: Server, uploads: int = 20) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"upload": [], "shard": [], "repodata.json": [], "repodata.json.zst": []}
    base = f"/{CHANNEL}/{SUBDIR}"
    with server.client() as http:
        for kind in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst"):
            http.get(f"{base}/{kind}")
        for i in range(uploads):
            name, version = f"pkg{i}", f"9.{i}.{uuid.uuid4().int % 1000}"
            data = package_bytes(name, version, int(time.time() * 1000))
            filename = f"{name}-{version}-h0_0.conda"
            headers = {"X-File-Name": filename, "X-File-Sha256": hashlib.sha256(data).hexdigest()}
            started = time.perf_counter()
            http.post(f"/api/v1/upload/{CHANNEL}", content=data, headers=headers).raise_for_status()
            times["upload"].append((time.perf_counter() - started) * 1000)

            def in_shard(h: httpx.Client, name: str = name, filename: str = filename) -> bool:
                index = msgpack.unpackb(zstandard.decompress(h.get(f"{base}/repodata_shards.msgpack.zst").content))
                raw = h.get(f"{base}/shards/{index['shards'][name].hex()}.msgpack.zst").content
                return filename in msgpack.unpackb(zstandard.decompress(raw))["packages.conda"]

            times["shard"].append(_until(http, in_shard))
            times["repodata.json"].append(
                _until(http, lambda h, f=filename: f.encode() in h.get(f"{base}/repodata.json").content)
            )
            times["repodata.json.zst"].append(
                _until(
                    http,
                    lambda h, f=filename: (
                        f.encode()
                        in zstandard.ZstdDecompressor()
                        .decompressobj()
                        .decompress(h.get(f"{base}/repodata.json.zst").content)
                    ),
                )
            )
    return times


def wrk(url: str, headers: dict[str, str], seconds: int) -> float:
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(out)
    return float(match.group(1))


def serve_rate(site: Site, seconds: int) -> dict[str, float]:
    rates = {}
    for workers in (1, 2):
        with site.serve(workers) as server:
            for kind in ("repodata.json.zst", "repodata_shards.msgpack.zst"):
                url = f"{server.url}/{CHANNEL}/{SUBDIR}/{kind}"
                etag = httpx.get(url).headers["etag"]
                rates[f"{kind} 200, {workers} worker(s)"] = wrk(url, {}, seconds)
                rates[f"{kind} 304, {workers} worker(s)"] = wrk(url, {"If-None-Match": etag}, seconds)
    return rates


def three_processes(site: Site, count: int = 60) -> tuple[float, list[float]]:
    with ExitStack() as stack:
        servers = [stack.enter_context(site.serve()) for _ in range(3)]
        payloads = []
        for i in range(count):
            name, version = f"mp{i % 20}", f"7.{i}.0"
            payloads.append((f"{name}-{version}-h0_0.conda", package_bytes(name, version, int(time.time() * 1000))))

        def send(i: int) -> float:
            filename, data = payloads[i]
            started = time.perf_counter()
            with servers[i % 3].client() as http:
                http.post(
                    f"/api/v1/upload/{CHANNEL}", content=data, headers={"X-File-Name": filename}
                ).raise_for_status()
            return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            latencies = list(pool.map(send, range(count)))
        wall = time.perf_counter() - started
        for server in servers:
            with server.client() as http:
                listed = http.get(f"/{CHANNEL}/{SUBDIR}/repodata.json").json()["packages.conda"]
                assert all(filename in listed for filename, _ in payloads), server.url
    return wall, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per figure")
    parser.add_argument(
        "--import-only",
        nargs="*",
        metavar="REV",
        help="measure only the import, of each git revision given (default: the working tree), side by side",
    )
    args = parser.parse_args()
    if args.import_only is not None:
        import_only(args.records, args.backends, args.import_only or ["worktree"])
        return
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"machine: {os.cpu_count()} CPUs; code: {commit.stdout.strip()} (+ working tree)")
    imports, latency, serving, multi = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="taipan-bench-scaleout-") as tmp:
        for n in args.records:
            package_folder(n)
            for backend in args.backends:
                with site(backend, Path(tmp)) as s:
                    with s.serve() as server:
                        rate = import_rate(s, server, n)
                        imports.append([backend, n, f"{rate:,.0f}"])
                        print(f"{backend} {n}: import {rate:,.0f} packages/s", file=sys.stderr)
                        for step, values in upload_latency(server).items():
                            latency.append([backend, n, step, f"{pct(values, 50):.1f}", f"{pct(values, 95):.1f}"])
                    for figure, value in serve_rate(s, args.seconds).items():
                        serving.append([backend, n, figure, f"{value:,.0f}"])
                    if n == args.records[0]:
                        wall, lat = three_processes(s)
                        multi.append(
                            [backend, f"{wall:.2f}", f"{60 / wall:.1f}", f"{pct(lat, 50):.0f}", f"{pct(lat, 95):.0f}"]
                        )
    print("\nImport (`taipan import`, default -j)\n")
    print(table(["backend", "packages", "packages/s"], imports))
    print("\nUpload, then visible (ms; 20 sequential uploads)\n")
    print(table(["backend", "records", "step", "median ms", "p95 ms"], latency))
    print("\nServe rate (wrk -c32 -t2, requests/s)\n")
    print(table(["backend", "records", "file, answer, processes", "req/s"], serving))
    print("\nThree processes, 60 concurrent uploads into one subdir\n")
    print(table(["backend", "wall s", "uploads/s", "median ms", "p95 ms"], multi))


def import_only(records: list[int], backends: list[str], revs: list[str]) -> None:
    """``taipan import`` alone, for each size, backend and revision in turn (best of two tries each)."""
    sys.path.insert(0, str(REPO / "bench"))
    import seed

    print(f"machine: {seed.machine()}")
    sources = {rev: seed.snapshot(rev) for rev in revs}
    for rev, src in sources.items():
        print(f"{rev}: {seed.describe(src)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="taipan-bench-scaleout-") as tmp:
        for n in records:
            package_folder(n)
            for backend in backends:
                for rev, src in sources.items():
                    rates = []
                    for _ in range(2):
                        with site(backend, Path(tmp), src) as s, s.serve() as server:
                            rates.append(import_rate(s, server, n))
                    rows.append([backend, n, rev, f"{max(rates):,.0f}"])
                    print(f"{backend} {n} {rev}: import {max(rates):,.0f} packages/s", file=sys.stderr)
    print("\nImport (`taipan import`, default -j; best of two)\n")
    print(table(["backend", "packages", "code", "packages/s"], rows))


if __name__ == "__main__":
    main()
