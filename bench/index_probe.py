"""Run by index_costs.py in a process whose PYTHONPATH holds the code under test and pyinstrument.

    python bench/index_probe.py DATA_DIR RECORDS REPEAT PROFILE

Builds each index file of ``bench/linux-64`` cold (a new, empty build cache each time)
REPEAT times and prints one JSON line per kind with the median milliseconds and size,
plus the pure-encoding parts (zstd of repodata.json alone, encoding the shard index from
its name -> digest map alone). With PROFILE=1 it also prints a pyinstrument profile of
one cold repodata.json.zst build (wall clock: SQLite and zstd time count).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import zstandard
from pyinstrument import Profiler

import seed
from taipan.conda.repodata import compress_zst
from taipan.conda.shards import encode_shard_index
from taipan.indexing.artifacts import IndexFiles
from taipan.services import build_services
from taipan.settings import load_settings

KINDS = ("repodata_shards.msgpack.zst", "repodata.json", "repodata.json.zst")


def median_ms(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - started) * 1000)
    return seed.percentile(times, 50), result


def probe(data_dir: Path, n: int, repeat: int, profile: bool) -> None:
    settings = load_settings(data_dir=data_dir)
    svc = build_services(settings)
    state = svc.index.state(seed.CHANNEL, seed.SUBDIR)
    assert state is not None

    def cold(kind: str) -> Callable[[], bytes]:
        def build() -> bytes:
            index = IndexFiles(svc.db, settings.artifact_cache_bytes, settings.zstd_level)
            return index.build(state, kind)[1]  # type: ignore[arg-type]

        return build

    built: dict[str, bytes] = {}
    for kind in KINDS:
        ms, data = median_ms(cold(kind), repeat)
        assert isinstance(data, bytes)
        built[kind] = data
        print(json.dumps({"records": n, "kind": kind, "ms": ms, "bytes": len(data)}))
    raw = built["repodata.json"]
    ms, _ = median_ms(lambda: compress_zst(raw, settings.zstd_level), repeat)
    print(json.dumps({"records": n, "kind": "zstd of repodata.json only", "ms": ms, "bytes": len(raw)}))
    index = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(built[KINDS[0]]), raw=False)
    shards = index["shards"]
    ms, _ = median_ms(lambda: encode_shard_index(seed.SUBDIR, shards), repeat)
    print(json.dumps({"records": n, "kind": "encode shard index only", "ms": ms, "bytes": len(shards)}))
    if profile:
        profiler = Profiler(interval=0.001)
        profiler.start()
        cold("repodata.json.zst")()
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, short_mode=True))
    svc.close()


if __name__ == "__main__":
    probe(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
