"""(a) Upload -> visible latency, in the shard index and in repodata.json, by subdir size.

For each size: copy a seeded data dir (see seed.py), start ``taipan serve`` on it, fetch
every index file once (the steady state: the build cache holds the previous revision),
then upload new files one at a time (raw prefix.dev-style POST). After each upload:

* upload: send -> response;
* shards: from the response, GET the shard index and then the name's shard until the
  shard holds the file (both fetches counted; client-side decoding is not);
* visible in shards = upload + shards;
* repodata.json: the first GET after the change (the server renders it now);
* visible in repodata.json = upload + repodata.json;
* .zst after .json: GET repodata.json.zst right after (compression only);
* .zst cold: a second series of uploads fetches repodata.json.zst first (render + compress),
  which is what conda and pixi do.

Each upload is a new version of an existing name, so its shard holds ~11 records.

``--steady RATE`` adds a series under a steady stream of uploads (RATE per second for
``--steady-seconds``), while two readers GET ``repodata.json.zst`` back to back, each
conditionally on the ETag it last saw, as polling clients do. Every 200 is decompressed
and checked to list every file whose upload was answered before that GET was sent (a
stale answer is counted, and must not happen); GET times are reported as percentiles.

Peak RSS is the server process's high-water mark (VmHWM) after the series.
Seed large subdirs with ``TAIPAN_BENCH_SEED=synthetic`` (bench/synth_seed.py: rows
straight into the database, 500k in ~2 minutes).

    .venv/bin/python bench/upload_latency.py --sizes 1000 10000 100000
    TAIPAN_BENCH_SEED=synthetic .venv/bin/python bench/upload_latency.py --sizes 100000 500000 --steady 5
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgpack
import zstandard

import seed

DEADLINE_S = 10.0


@dataclass
class Series:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        self.values.setdefault(key, []).append(seconds * 1000)


@dataclass
class Sizes:
    json_bytes: int = 0
    zst_bytes: int = 0
    index_bytes: int = 0
    others: float = 0.0
    """Share of the CPUs other processes used during the series."""
    peak_rss: int = 0
    """The server process's peak resident memory (VmHWM), bytes."""


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def steady(http: httpx.Client, up: Uploader, rate: float, seconds: float, series: Series) -> int:
    """Uploads at ``rate``/s while two readers poll repodata.json.zst; returns stale answers seen."""
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    stale = [0]

    def read() -> None:
        etag = ""
        with httpx.Client(base_url=str(http.base_url), timeout=60) as reader:
            while not stop.is_set():
                with lock:
                    must = list(answered)
                started = time.perf_counter()
                response = reader.get(f"{base()}/repodata.json.zst", headers={"If-None-Match": etag} if etag else {})
                series.add("steady .zst GET", time.perf_counter() - started)
                if response.status_code == 304:
                    series.add("steady .zst 304", time.perf_counter() - started)
                    continue
                response.raise_for_status()
                etag = response.headers["etag"]
                series.add("steady .zst 200", time.perf_counter() - started)
                raw = unzstd(response.content)
                if any(f'"{name}"'.encode() not in raw for name in must[-20:]):
                    stale[0] += 1

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        spec, data = up.next_package()
        series.add("steady upload", up.upload(spec, data))
        with lock:
            answered.append(spec.filename)
    stop.set()
    for thread in readers:
        thread.join()
    return stale[0]


def unpack(data: bytes) -> dict[str, object]:
    raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30)
    result: dict[str, object] = msgpack.unpackb(raw, raw=False)
    return result


class Uploader:
    def __init__(self, http: httpx.Client, folder: Path, n: int) -> None:
        self.http = http
        self.folder = folder
        self.names = max(1, n // seed.RECORDS_PER_NAME)
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def next_package(self) -> tuple[seed.PackageSpec, bytes]:
        self.count += 1
        j = (self.count * 7919) % self.names
        spec = seed.PackageSpec(seed.name_of(j), f"9.{self.count}.0", "h0_0", 0, seed.SUBDIR, ("libgcc >=13",), None)
        return spec, seed.package_bytes(spec, int(time.time() * 1000))

    def upload(self, spec: seed.PackageSpec, data: bytes) -> float:
        headers = {
            "X-File-Name": spec.filename,
            "X-File-SHA256": hashlib.sha256(data).hexdigest(),
            "Content-Type": "application/octet-stream",
        }
        started = time.perf_counter()
        response = self.http.post(f"/api/v1/upload/{seed.CHANNEL}", content=data, headers=headers)
        took = time.perf_counter() - started
        response.raise_for_status()
        return took


def timed_get(http: httpx.Client, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = http.get(path)
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, response.content


def base() -> str:
    return f"/{seed.CHANNEL}/{seed.SUBDIR}"


def shard_holds(http: httpx.Client, spec: seed.PackageSpec, sizes: Sizes) -> float:
    """Seconds of fetching until the shard index names a shard holding ``spec``'s file."""
    spent = 0.0
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        took, data = timed_get(http, f"{base()}/repodata_shards.msgpack.zst")
        spent += took
        sizes.index_bytes = len(data)
        shards = unpack(data)["shards"]
        assert isinstance(shards, dict)
        digest = shards.get(spec.name)
        if digest is not None:
            took, data = timed_get(http, f"{base()}/shards/{bytes(digest).hex()}.msgpack.zst")
            spent += took
            if spec.filename in unpack(data)["packages.conda"]:  # type: ignore[operator]
                return spent
        time.sleep(0.001)
    raise TimeoutError(f"{spec.filename} did not appear in the shards within {DEADLINE_S} s")


def repodata_holds(http: httpx.Client, path: str, spec: seed.PackageSpec, decode: Callable[[bytes], bytes]) -> float:
    spent = 0.0
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        took, data = timed_get(http, path)
        spent += took
        # The file name as a JSON key: parsing 250 MB of JSON here would starve the server of CPU.
        if f'"{spec.filename}":'.encode() in decode(data):
            return spent
        time.sleep(0.001)
    raise TimeoutError(f"{spec.filename} did not appear in {path} within {DEADLINE_S} s")


def plain(data: bytes) -> bytes:
    return data


def unzstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 31)


def profile(server: seed.Server, http: httpx.Client, up: Uploader, count: int) -> dict[str, str]:
    """py-spy (GIL samples) of the server during uploads + shard checks, then .zst-first fetches."""
    sizes = Sizes()
    with seed.py_spy(server.process.pid, 600) as shards:
        for _ in range(count):
            spec, data = up.next_package()
            up.upload(spec, data)
            shard_holds(http, spec, sizes)
    with seed.py_spy(server.process.pid, 600) as zst:
        for _ in range(max(1, count // 4)):
            spec, data = up.next_package()
            up.upload(spec, data)
            repodata_holds(http, f"{base()}/repodata.json.zst", spec, unzstd)
    return {"upload + shards": shards.summary(), "upload + .zst cold": zst.summary()}


def run_series(http: httpx.Client, up: Uploader, uploads: int, cold: int) -> tuple[Series, Sizes]:
    series, sizes = Series(), Sizes()
    for _ in range(uploads):
        spec, data = up.next_package()
        t_up = up.upload(spec, data)
        t_shard = shard_holds(http, spec, sizes)
        t_json = repodata_holds(http, f"{base()}/repodata.json", spec, plain)
        t_zst = repodata_holds(http, f"{base()}/repodata.json.zst", spec, unzstd)
        series.add("upload", t_up)
        series.add("shards", t_shard)
        series.add("visible in shards", t_up + t_shard)
        series.add("repodata.json", t_json)
        series.add("visible in repodata.json", t_up + t_json)
        series.add(".zst after .json", t_zst)
    for _ in range(cold):
        spec, data = up.next_package()
        t_up = up.upload(spec, data)
        series.add(".zst cold", repodata_holds(http, f"{base()}/repodata.json.zst", spec, unzstd))
    sizes.json_bytes = len(http.get(f"{base()}/repodata.json").content)
    sizes.zst_bytes = len(http.get(f"{base()}/repodata.json.zst").content)
    return series, sizes


def measure(
    src: Path,
    n: int,
    uploads: int,
    cold: int,
    profiles: dict[str, str] | None = None,
    rate: float = 0.0,
    seconds: float = 30.0,
) -> tuple[Series, Sizes, float]:
    with seed.temp_dir("taipan-bench-upload-") as tmp:
        data_dir = Path(tmp) / "data"
        seed_s = seed.seeded_data_dir(src, n, data_dir)
        with seed.running_server(src, data_dir) as server, server.client() as http:
            for name in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst"):
                timed_get(http, f"{base()}/{name}")
            up = Uploader(http, Path(tmp) / "new", n)
            (series, sizes), sizes_others = seed.quietest(lambda: run_series(http, up, uploads, cold))
            sizes.others = sizes_others
            if rate:
                stale = steady(http, up, rate, seconds, series)
                series.values["steady stale answers"] = [float(stale)]
            sizes.peak_rss = peak_rss(server.process.pid)
            if profiles is not None:
                for key, text in profile(server, http, up, 40).items():
                    profiles[f"{n} records, {key}"] = text
    return series, sizes, seed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--cold", type=int, default=10, help="uploads in the .zst-first series")
    parser.add_argument("--profile", action="store_true", help="then profile the server with py-spy")
    parser.add_argument("--steady", type=float, default=0.0, help="uploads/s of a steady series (0: none)")
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}; seed method: {seed.seed_method(src)}")
    keys = [
        "upload",
        "shards",
        "visible in shards",
        "repodata.json",
        "visible in repodata.json",
        ".zst after .json",
        ".zst cold",
    ]
    rows, size_rows = [], []
    profiles: dict[str, str] = {}
    for n in args.sizes:
        series, sizes, seed_s = measure(
            src, n, args.uploads, args.cold, profiles if args.profile else None, args.steady, args.steady_seconds
        )
        steady_keys = ["steady upload", "steady .zst GET", "steady .zst 200", "steady .zst 304", "steady stale answers"]
        for key in keys + [k for k in steady_keys if k in series.values]:
            values = series.values[key]
            rows.append(
                [n, key, len(values), f"{seed.percentile(values, 50):.1f}", f"{seed.percentile(values, 95):.1f}"]
            )
        size_rows.append(
            [
                n,
                f"{sizes.json_bytes:,}",
                f"{sizes.zst_bytes:,}",
                f"{sizes.index_bytes:,}",
                f"{seed_s:.0f}" if seed_s else "cached",
                f"{sizes.others:.0%}",
                f"{sizes.peak_rss / 2**20:.0f}",
            ]
        )
    print()
    print(seed.table(["records", "step", "count", "median ms", "p95 ms"], rows))
    print()
    heads = ["records", "repodata.json B", ".zst B", "shard index B", "seed s", "others' CPU", "peak RSS MiB"]
    print(seed.table(heads, size_rows))
    for key, text in profiles.items():
        print(f"\npy-spy, taipan serve, {key}: {text}")


if __name__ == "__main__":
    main()
