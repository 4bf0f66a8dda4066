"""Seed a data dir with ``n`` synthetic records written straight into the database.

Run by seed.py (PYTHONPATH = the code under test, TAIPAN_DATA_DIR set, the channel made):

    python bench/synth_seed.py N CHANNEL

For subdirs too large to import in reasonable time (500k records, as conda-forge's
linux-64 holds): the rows are those ``taipan import`` would write for seed.py's package
set of ``n`` (same index.json fields, ten records per name, ~500 B each), with made-up
hashes and no bytes in storage, so index files are real and downloads are 404s. Shards
are written by the code's own ``refresh_shards``, a batch of names per transaction.
"""

from __future__ import annotations

import hashlib
import sys
import time

from sqlalchemy import insert, select

from seed import MTIME, SUBDIR, index_json, spec_for
from taipan.conda.records import Hashes, build_record, dump_record
from taipan.db.models import Channel, FileLabel, PackageFile
from taipan.indexing.state import ensure_subdir, lock_subdir, refresh_shards
from taipan.services import build_services
from taipan.settings import load_settings

NAMES_PER_BATCH = 500


def row(i: int, n: int, subdir_id: int) -> dict[str, object]:
    spec = spec_for(i, n)
    index = index_json(spec)
    digest = hashlib.sha256(spec.filename.encode()).hexdigest()
    hashes = Hashes(sha256=digest, md5=digest[:32], size=1100 + i % 97)
    record = dump_record(build_record(index, hashes, MTIME * 1000))
    return {
        "subdir_id": subdir_id,
        "filename": spec.filename,
        "name": spec.name,
        "version": spec.version,
        "build": spec.build,
        "build_number": spec.build_number,
        "sha256": hashes.sha256,
        "md5": hashes.md5,
        "size": hashes.size,
        "record": record,
        "run_exports": dump_record(spec.run_exports) if spec.run_exports else None,
        "indexed_timestamp": MTIME * 1000,
        "uploader": "bench-synthetic",
    }


def main(n: int, channel: str) -> None:
    svc = build_services(load_settings())
    names = max(1, n // 10)
    started = time.monotonic()
    for first in range(0, names, NAMES_PER_BATCH):
        batch = range(first, min(first + NAMES_PER_BATCH, names))
        with svc.db.write() as session:
            channel_id = session.scalar(select(Channel.id).where(Channel.name == channel))
            assert channel_id is not None
            subdir_id = ensure_subdir(session, channel_id, SUBDIR)
            lock_subdir(session, subdir_id)
            rows = [row(k * names + j, n, subdir_id) for j in batch for k in range((n - j + names - 1) // names)]
            session.execute(insert(PackageFile), rows)
            ids = session.scalars(
                select(PackageFile.id).where(
                    PackageFile.subdir_id == subdir_id, PackageFile.filename.in_([r["filename"] for r in rows])
                )
            ).all()
            session.execute(insert(FileLabel), [{"file_id": i, "label": "main"} for i in ids])
            refresh_shards(session, subdir_id, {str(r["name"]) for r in rows})
        done = min(first + NAMES_PER_BATCH, names) * 10
        print(f"{done}/{n} ({done / (time.monotonic() - started):.0f}/s)", file=sys.stderr, flush=True)
    svc.db.analyze()
    svc.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
