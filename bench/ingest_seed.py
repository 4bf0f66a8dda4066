"""Seed a data dir through the shared ingest path, in process: ``record_files`` in batches.

Run by seed.py (with PYTHONPATH pointing at the code under test and TAIPAN_DATA_DIR set,
the channel already made) when that code has no ``taipan import``:

    python bench/ingest_seed.py FOLDER CHANNEL

Each file is staged in storage, checked with ``check_package`` exactly as an upload is,
and every ``BATCH`` checked files go through one ``record_files`` call (one transaction
under the subdir lock, shards of the touched names rewritten), as a bulk import would.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from taipan.conda.hashing import StreamHasher
from taipan.packages.checks import Checked, Staged, check_package
from taipan.packages.ingest import record_files
from taipan.services import Services, build_services
from taipan.settings import load_settings
from taipan.storage.base import STAGING_PREFIX

BATCH = 500


def stage_and_check(svc: Services, path: Path) -> tuple[Checked, str]:
    data = path.read_bytes()
    hasher = StreamHasher()
    hasher.update(data)
    key = f"{STAGING_PREFIX}{path.name}"
    writer = svc.storage.writer(key)
    writer.write(data)
    writer.close()
    staged = Staged(key, hasher.result())
    settings = svc.settings
    checked = check_package(
        svc.storage,
        staged,
        path.name,
        max_size=settings.max_upload_size,
        max_ratio=settings.max_unpacked_ratio,
        expected_subdir=path.parent.name,
    )
    return checked, key


def main(folder: Path, channel: str) -> None:
    svc = build_services(load_settings())
    started = time.monotonic()
    for subdir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(subdir.glob("*.conda"))
        for start in range(0, len(files), BATCH):
            batch = [stage_and_check(svc, path) for path in files[start : start + BATCH]]
            record_files(svc.db, svc.storage, channel, batch, False, "bench-seed")
            done = start + len(batch)
            rate = done / (time.monotonic() - started)
            print(f"{subdir.name}: {done}/{len(files)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
    svc.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
