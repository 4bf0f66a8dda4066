"""Run by profile_ingest.py in a process whose PYTHONPATH holds the code under test and pyinstrument.

    python bench/ingest_probe.py DATA_DIR RECORDS COUNT

Uploads COUNT new files into channel ``bench`` of DATA_DIR (seeded with RECORDS records)
through the upload use-case's steps, timing each; prints the times, a pyinstrument
profile of ``record_files`` and the slowest SELECTs it ran, with their query plans.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from sqlalchemy import Connection, event

import seed
from taipan.conda.hashing import StreamHasher
from taipan.packages.checks import Staged, check_package
from taipan.packages.ingest import record_files
from taipan.services import build_services
from taipan.settings import load_settings
from taipan.storage.base import STAGING_PREFIX


def probe(data_dir: Path, n: int, count: int) -> None:
    svc = build_services(load_settings(data_dir=data_dir))
    last_params: dict[str, Any] = {}

    @event.listens_for(svc.db.write_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            last_params[statement] = parameters

    names = max(1, n // seed.RECORDS_PER_NAME)
    steps: dict[str, list[float]] = {}
    profiler = Profiler(interval=0.0005)
    for i in range(count):
        spec = seed.PackageSpec(seed.name_of((i * 7919) % names), f"8.{i}.0", "h0_0", 0, seed.SUBDIR, (), None)
        data = seed.package_bytes(spec)
        t0 = time.perf_counter()
        hasher = StreamHasher()
        hasher.update(data)
        key = f"{STAGING_PREFIX}bench-{i}"
        writer = svc.storage.writer(key)
        writer.write(data)
        writer.close()
        staged = Staged(key, hasher.result())
        t1 = time.perf_counter()
        checked = check_package(svc.storage, staged, spec.filename, max_size=1 << 30, max_ratio=200)
        t2 = time.perf_counter()
        profiler.start()
        record_files(svc.db, svc.storage, seed.CHANNEL, [(checked, key)], False, "bench")
        profiler.stop()
        t3 = time.perf_counter()
        for name, took in (("stage", t1 - t0), ("check_package", t2 - t1), ("record_files", t3 - t2)):
            steps.setdefault(name, []).append(took * 1000)
    print(f"\n## {n} records: median (p95) ms over {count} uploads")
    for name, values in steps.items():
        print(f"  {name:14} {seed.percentile(values, 50):7.2f} ({seed.percentile(values, 95):.2f})")
    print(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=True))
    print("slowest SELECTs record_files ran (re-run with their last parameters, execute + fetch, median of 5):")
    with svc.db.read_engine.connect() as conn:
        timed = sorted(((_rerun(conn, q, p), q, p) for q, p in last_params.items()), key=lambda t: -t[0])
        for took, statement, params in timed[:3]:
            print(f"  {took:8.3f} ms: {' '.join(statement.split())}")
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all():
                print(f"             plan: {row[-1]}")
    svc.close()


def _rerun(conn: Connection, statement: str, params: Any) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        conn.exec_driver_sql(statement, params).all()
        times.append((time.perf_counter() - started) * 1000)
    return seed.percentile(times, 50)


if __name__ == "__main__":
    probe(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
