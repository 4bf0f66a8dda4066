"""(a) Requests/s for index files, shards and their 304s, and a 100 MB download: Taipan next to nginx.

For each subdir size: copy a seeded data dir, start ``taipan serve --workers 2``, fetch
``repodata.json.zst``, ``repodata.json``, the shard index and one shard with their ETags,
copy those bytes to an nginx root (same paths; nginx with 2 worker processes, etag on,
sendfile on, access log off), and run wrk against both for each file:

* ``<file> 200``: GET it; ``<file> 304``: the same with ``If-None-Match: <that server's ETag>``;
* public: the seeded channel as it is; private: the same channel made private and read
  with a key (``Authorization: Bearer``), which nginx (serving the same bytes without
  auth) has no counterpart of: its public figure is the reference for both;
* a 100 MB package (incompressible payload) downloaded over and over (wrk -c4), whose
  transfer rate is compared, with the server's peak RSS before and after.

"ratio" is Taipan's req/s (or bytes/s) over nginx's. "server CPUs" is the CPU time the
server's processes used per second of the run; "others' CPU" the share other processes
took (see seed.quietest). Everything is on 127.0.0.1 and wrk runs on the same machine, so
client and server share the 2 CPUs. Needs ``nginx`` and ``wrk`` on PATH (Debian:
``apt-get install nginx wrk``). ``--single`` also measures a single ``taipan serve`` process.

    .venv/bin/python bench/serve_rate.py --records 10000 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgpack
import zstandard

import seed

FILES = {
    ".zst": "repodata.json.zst",
    ".json": "repodata.json",
    "index": "repodata_shards.msgpack.zst",
    "shard": "",  # filled in: shards/<digest>.msgpack.zst of one name
}
BIG_MB = 100
NGINX_CONF = """\
{user}
worker_processes {workers};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    etag on;
    types {{ application/zstd zst; application/json json; }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ add_header Cache-Control "public, max-age=60"; }}
    }}
}}
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    transfer: str


def wrk(
    url: str, duration: int, connections: int, threads: int, etag: str | None, headers: dict[str, str] | None = None
) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if etag is not None:
        cmd += ["-H", f"If-None-Match: {etag}"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(x) for x in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)\W+(\d+)", out))
    return WrkResult(
        rps,
        _latency(out, "50%"),
        _latency(out, "99%"),
        errors,
        re.search(r"Transfer/sec:\s+(\S+)", out).group(1),  # type: ignore[union-attr]
    )


def transfer_bytes(text: str) -> float:
    value, unit = re.match(r"([\d.]+)([KMG]?B)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}[unit]


def _latency(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\b", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextmanager
def nginx(root: Path, workers: int) -> Iterator[tuple[str, int]]:
    tmp = Path(tempfile.mkdtemp(prefix="taipan-bench-nginx-"))
    port = seed.free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, port=port, root=root))
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"nginx did not start: {(tmp / 'error.log').read_text()}") from None
                time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()  # SIGTERM to the master: fast shutdown of it and its workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def etags(base_url: str, headers: dict[str, str]) -> dict[str, str]:
    """Each file's ETag at ``base_url``, after checking that it answers 304 to it."""
    found = {}
    with httpx.Client(base_url=base_url, timeout=120, headers=headers) as http:
        for key, name in FILES.items():
            path = f"/{seed.CHANNEL}/{seed.SUBDIR}/{name}"
            etag = http.get(path).headers["etag"]
            status = http.get(path, headers={"If-None-Match": etag}).status_code
            assert status == 304, f"{base_url}{path} answered {status} to its own ETag"
            found[key] = etag
    return found


@dataclass
class Run:
    """What the measurements of one server fill in, by (request, access)."""

    label: str
    results: dict[tuple[str, str], tuple[WrkResult, float, float]]


def run_kinds(
    base_url: str, pid: int, args: argparse.Namespace, access: str, run: Run, headers: dict[str, str]
) -> None:
    """Every file, 200 and 304, against one server; ``pid`` is its root process (its CPU use is reported)."""
    tags = etags(base_url, headers)
    for key, name in FILES.items():
        url = f"{base_url}/{seed.CHANNEL}/{seed.SUBDIR}/{name}"
        for status, etag in (("200", None), ("304", tags[key])):

            def once(url: str = url, etag: str | None = etag) -> tuple[WrkResult, float]:
                wrk(url, 2, args.connections, args.threads, etag, headers)  # warm-up: connections, caches
                before, started = seed.tree_cpu_seconds(pid), time.monotonic()
                result = wrk(url, args.duration, args.connections, args.threads, etag, headers)
                return result, (seed.tree_cpu_seconds(pid) - before) / (time.monotonic() - started)

            (result, cores), others = seed.quietest(once)
            run.results[(f"{key} {status}", access)] = (result, cores, others)
            seed.log(f"{key} {status} {access} {run.label}: {result.rps:,.0f} req/s")


def big_package(folder: Path) -> Path:
    """A valid .conda of ~100 MB whose payload does not compress."""
    import zipfile

    stem = "bigpkg-1.0-h0_0"
    payload = os.urandom(BIG_MB * 2**20)
    index = {"name": "bigpkg", "version": "1.0", "build": "h0_0", "build_number": 0, "subdir": seed.SUBDIR}
    info = seed._tar(
        [("info/index.json", json.dumps(index).encode()), ("info/paths.json", b'{"paths": [], "paths_version": 1}')]
    )
    path = folder / f"{stem}.conda"
    zstd = zstandard.ZstdCompressor(level=1)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{stem}.tar.zst", zstd.compress(info))
        zf.writestr(f"pkg-{stem}.tar.zst", zstd.compress(seed._tar([("share/big.bin", payload)])))
    return path


def download(base_url: str, pid: int, args: argparse.Namespace, run: Run, path: str) -> None:
    url = f"{base_url}{path}"

    def once() -> tuple[WrkResult, float]:
        before, started = seed.tree_cpu_seconds(pid), time.monotonic()
        result = wrk(url, args.duration, 4, 2, None)
        return result, (seed.tree_cpu_seconds(pid) - before) / (time.monotonic() - started)

    (result, cores), others = seed.quietest(once)
    run.results[("100 MB package", "public")] = (result, cores, others)
    seed.log(f"download {run.label}: {result.transfer}/s")


def tree_rss(pid: int) -> int:
    """Peak RSS (VmHWM) of the largest process of the tree under ``pid``, bytes."""
    best = 0
    parents, _times = seed._proc_table()
    for child in seed._tree(parents, pid):
        try:
            text = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                best = max(best, int(line.split()[1]) * 1024)
    return best


def measure(src: Path, n: int, args: argparse.Namespace, runs: list[Run], notes: list[str]) -> dict[str, int]:
    sizes = {}
    with seed.temp_dir("taipan-bench-serve-") as tmp:
        data_dir = Path(tmp) / "data"
        seed.seeded_data_dir(src, n, data_dir)
        root = Path(tmp) / "www"
        sub = root / seed.CHANNEL / seed.SUBDIR
        (sub / "shards").mkdir(parents=True)
        big = big_package(Path(tmp))
        big_url = f"/{seed.CHANNEL}/{seed.SUBDIR}/{big.name}"
        (sub / big.name).write_bytes(big.read_bytes())
        for workers in [1, 2] if args.single else [2]:
            with seed.running_server(src, data_dir, workers) as server:
                admin = {"Authorization": f"Bearer {server.token}"}
                with httpx.Client(base_url=server.url, timeout=300, headers=admin) as http:
                    if not FILES["shard"]:
                        index = http.get(f"/{seed.CHANNEL}/{seed.SUBDIR}/repodata_shards.msgpack.zst").content
                        digest = next(iter(msgpack.unpackb(zstandard.decompress(index))["shards"].values()))
                        FILES["shard"] = f"shards/{digest.hex()}.msgpack.zst"
                    if workers == 2:
                        for name in FILES.values():
                            body = http.get(f"/{seed.CHANNEL}/{seed.SUBDIR}/{name}").content
                            (sub / name).write_bytes(body)
                            sizes[name] = len(body)
                        headers = {"X-File-Name": big.name, "Content-Type": "application/octet-stream"}
                        with open(big, "rb") as f:
                            http.post(
                                f"/api/v1/upload/{seed.CHANNEL}", content=f.read(), headers=headers
                            ).raise_for_status()
                run = Run(f"taipan serve --workers {workers}" if workers > 1 else "taipan serve", {})
                runs.append(run)
                run_kinds(server.url, server.process.pid, args, "public", run, {})
                if workers == 2:
                    before = tree_rss(server.process.pid)
                    download(server.url, server.process.pid, args, run, big_url)
                    notes.append(
                        f"{n} records, {run.label}: peak RSS of its largest process {before / 2**20:.0f} MiB "
                        f"before the download runs, {tree_rss(server.process.pid) / 2**20:.0f} MiB after"
                    )
                with httpx.Client(base_url=server.url, timeout=60, headers=admin) as http:
                    http.patch(f"/api/v1/channels/{seed.CHANNEL}", json={"private": True}).raise_for_status()
                run_kinds(server.url, server.process.pid, args, "private + key", run, admin)
                with httpx.Client(base_url=server.url, timeout=60, headers=admin) as http:
                    http.patch(f"/api/v1/channels/{seed.CHANNEL}", json={"private": False}).raise_for_status()
        for path in (root, root / seed.CHANNEL, sub, sub / "shards"):
            path.chmod(0o755)  # nginx workers may run as another user
        with nginx(root, 2) as (url, pid):
            run = Run("nginx, 2 workers", {})
            runs.append(run)
            run_kinds(url, pid, args, "public", run, {})
            download(url, pid, args, run, big_url)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10000])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--single", action="store_true", help="also measure one taipan serve process")
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}; wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
    size_rows = []
    for n in args.records:
        runs: list[Run] = []
        notes: list[str] = []
        sizes = measure(src, n, args, runs, notes)
        size_rows.append([n, *(f"{sizes[name]:,}" for name in FILES.values())])
        reference = runs[-1]
        rows = []
        for run in runs:
            for (request, access), (result, cores, others) in run.results.items():
                ref = reference.results[(request, "public")][0]
                if request.startswith("100 MB"):
                    ratio = transfer_bytes(result.transfer) / transfer_bytes(ref.transfer)
                else:
                    ratio = result.rps / ref.rps
                rows.append(
                    [
                        n,
                        request,
                        access,
                        run.label,
                        f"{result.rps:,.0f}",
                        f"{result.p50_ms:.1f}",
                        f"{result.p99_ms:.1f}",
                        result.transfer,
                        result.errors,
                        f"{cores:.2f}",
                        f"{others:.0%}",
                        f"{ratio:.2f}",
                    ]
                )
        print()
        headers = ["records", "request", "access", "server", "req/s", "p50 ms", "p99 ms", "transfer/s", "errors"]
        headers += ["server CPUs", "others' CPU", "ratio to nginx"]
        print(seed.table(headers, rows))
        for note in notes:
            print(f"\n{note}")
    print()
    print(seed.table(["records", *(f"{name} B" for name in FILES.values())], size_rows))


if __name__ == "__main__":
    main()
