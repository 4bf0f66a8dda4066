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

    .venv/bin/python bench/upload_latency.py --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
        if spec.filename in json.loads(decode(data))["packages.conda"]:
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
    src: Path, n: int, uploads: int, cold: int, profiles: dict[str, str] | None = None
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
        series, sizes, seed_s = measure(src, n, args.uploads, args.cold, profiles if args.profile else None)
        for key in keys:
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
            ]
        )
    print()
    print(seed.table(["records", "step", "count", "median ms", "p95 ms"], rows))
    print()
    print(seed.table(["records", "repodata.json B", ".zst B", "shard index B", "seed s", "others' CPU"], size_rows))
    for key, text in profiles.items():
        print(f"\npy-spy, taipan serve, {key}: {text}")


if __name__ == "__main__":
    main()
