"""(b) Requests/s for index files and their 304s: Taipan next to nginx serving the same bytes.

For each subdir size: copy a seeded data dir, start Taipan, fetch
``repodata.json.zst`` and ``repodata_shards.msgpack.zst`` with their ETags, copy those
bytes to an nginx root (same paths), and run wrk against each server for:

* ``.zst 200``: GET repodata.json.zst;
* ``index 200``: GET repodata_shards.msgpack.zst;
* ``.zst 304`` / ``index 304``: the same with ``If-None-Match: <that server's ETag>``.

"server CPUs" is the CPU time the server's processes used per second of the run (1.00 =
one core busy all the time); "others' CPU" the share other processes on the machine took
(see seed.quietest). Servers: ``taipan serve`` (one process), Taipan under uvicorn with 2 workers
(bench/serve_workers.py), and nginx with 1 and with 2 worker processes (etag on,
sendfile on, access log off). Everything is on 127.0.0.1; wrk runs on the same machine
(2 threads), so client and server share the CPUs. Needs ``nginx`` and ``wrk`` on PATH
(Debian: ``apt-get install nginx wrk``).

``--profile`` also records the single-process server with py-spy during one extra wrk
run per request kind and prints where the samples fall (needs py-spy, e.g.
``/tmp/benchvenv/bin/py-spy``; set PY_SPY to its path).

    .venv/bin/python bench/serve_rate.py --records 10000 --duration 10
"""

from __future__ import annotations

import argparse
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

import seed

FILES = {".zst": "repodata.json.zst", "index": "repodata_shards.msgpack.zst"}
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
    types {{ application/zstd zst; }}
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


def wrk(url: str, duration: int, connections: int, threads: int, etag: str | None) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if etag is not None:
        cmd += ["-H", f"If-None-Match: {etag}"]
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


def etags(base_url: str) -> dict[str, str]:
    """Each file's ETag at ``base_url``, after checking that it answers 304 to it."""
    found = {}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for key, name in FILES.items():
            path = f"/{seed.CHANNEL}/{seed.SUBDIR}/{name}"
            etag = http.get(path).headers["etag"]
            status = http.get(path, headers={"If-None-Match": etag}).status_code
            assert status == 304, f"{base_url}{path} answered {status} to its own ETag"
            found[key] = etag
    return found


def run_all(label: str, base_url: str, pid: int, args: argparse.Namespace, rows: list[list[object]], n: int) -> None:
    """Every request kind against one server; ``pid`` is its root process (its CPU use is reported)."""
    tags = etags(base_url)
    for key, name in FILES.items():
        url = f"{base_url}/{seed.CHANNEL}/{seed.SUBDIR}/{name}"
        for status, etag in (("200", None), ("304", tags[key])):

            def once(url: str = url, etag: str | None = etag) -> tuple[WrkResult, float]:
                wrk(url, 2, args.connections, args.threads, etag)  # warm-up: connections, caches
                before, started = seed.tree_cpu_seconds(pid), time.monotonic()
                result = wrk(url, args.duration, args.connections, args.threads, etag)
                return result, (seed.tree_cpu_seconds(pid) - before) / (time.monotonic() - started)

            (result, cores), others = seed.quietest(once)
            rows.append(
                [
                    n,
                    f"{key} {status}",
                    label,
                    f"{result.rps:,.0f}",
                    f"{result.p50_ms:.1f}",
                    f"{result.p99_ms:.1f}",
                    result.transfer,
                    result.errors,
                    f"{cores:.2f}",
                    f"{others:.0%}",
                ]
            )
            seed.log(f"{n} {key} {status} {label}: {result.rps:,.0f} req/s")


def profile(pid: int, url: str, etag: str | None, args: argparse.Namespace) -> str:
    """Record ``pid`` with py-spy during a wrk run; the busiest frames, as text."""
    with seed.py_spy(pid, args.duration + 30) as recording:
        wrk(url, args.duration, args.connections, args.threads, etag)
    return recording.summary()


def measure(
    src: Path, n: int, args: argparse.Namespace, rows: list[list[object]], profiles: dict[str, str]
) -> dict[str, int]:
    sizes = {}
    with seed.temp_dir("taipan-bench-serve-") as tmp:
        data_dir = Path(tmp) / "data"
        seed.seeded_data_dir(src, n, data_dir)
        root = Path(tmp) / "www"
        sub = root / seed.CHANNEL / seed.SUBDIR
        sub.mkdir(parents=True)
        for workers in (1, 2):
            with seed.running_server(src, data_dir, workers) as server:
                if workers == 1:
                    with httpx.Client(base_url=server.url, timeout=120) as http:
                        for name in FILES.values():
                            body = http.get(f"/{seed.CHANNEL}/{seed.SUBDIR}/{name}").content
                            (sub / name).write_bytes(body)
                            sizes[name] = len(body)
                label = "taipan serve" if workers == 1 else "taipan, uvicorn workers=2"
                run_all(label, server.url, server.process.pid, args, rows, n)
                if workers == 1 and args.profile:
                    tags = etags(server.url)
                    for key, name in FILES.items():
                        url = f"{server.url}/{seed.CHANNEL}/{seed.SUBDIR}/{name}"
                        for status, etag in (("200", None), ("304", tags[key])):
                            profiles[f"{n} {key} {status}"] = profile(server.process.pid, url, etag, args)
        for path in (root, root / seed.CHANNEL, sub):
            path.chmod(0o755)  # nginx workers may run as another user
        for workers in (1, 2):
            with nginx(root, workers) as (url, pid):
                run_all(f"nginx, {workers} worker{'s' if workers > 1 else ''}", url, pid, args, rows, n)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10000])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--profile", action="store_true", help="also profile taipan serve with py-spy")
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}; wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
    rows: list[list[object]] = []
    profiles: dict[str, str] = {}
    size_rows = []
    for n in args.records:
        sizes = measure(src, n, args, rows, profiles)
        size_rows.append([n, *(f"{sizes[name]:,}" for name in FILES.values())])
    print()
    headers = ["records", "request", "server", "req/s", "p50 ms", "p99 ms", "transfer/s", "errors"]
    headers += ["server CPUs", "others' CPU"]
    print(seed.table(headers, rows))
    print()
    print(seed.table(["records", *(f"{name} B" for name in FILES.values())], size_rows))
    for key, text in profiles.items():
        print(f"\npy-spy, taipan serve, {key}: {text}")


if __name__ == "__main__":
    main()
