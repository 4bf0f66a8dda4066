"""(c) Bulk import rate: ``taipan import`` against py-rattler's ``index_fs`` on one folder.

Both get the same cached folder of N synthetic ``.conda`` packages (see seed.py) laid
out as a channel (``linux-64/`` + empty ``noarch/``), in one run:

* rattler: ``rattler.index.index_fs(copy, write_zst=True, write_shards=True)`` on a fresh
  copy of the folder (the copy is not timed); it reads each package's ``info/`` and
  writes repodata.json, .zst, the shard index and shards next to the packages;
* taipan: ``taipan import FOLDER --channel bench`` (default ``-j``: one worker per CPU)
  into a fresh data dir whose channel was made beforehand (not timed); it hashes and
  checks every archive through and through, copies each file into storage and records
  it in the database, rewriting the shards of the names touched by each batch.

Afterwards each result is checked to hold N records. Needs a revision with
``taipan import`` (``--rev``, default HEAD; ``--rev worktree`` for the checkout as is).

    .venv/bin/python bench/import_rate.py --records 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rattler.index import index_fs

import seed


def rattler_rate(folder: Path, tmp: Path) -> tuple[float, int]:
    copy = Path(tempfile.mkdtemp(dir=tmp)) / "rattler-channel"
    shutil.copytree(folder, copy)
    (copy / ".complete").unlink(missing_ok=True)
    started = time.monotonic()
    asyncio.run(index_fs(copy, write_zst=True, write_shards=True))
    took = time.monotonic() - started
    repodata = json.loads((copy / seed.SUBDIR / "repodata.json").read_bytes())
    count = len(repodata["packages.conda"]) + len(repodata["packages"])
    assert (copy / seed.SUBDIR / "repodata_shards.msgpack.zst").exists()
    return took, count


def taipan_rate(src: Path, folder: Path, tmp: Path) -> tuple[float, int]:
    data_dir = Path(tempfile.mkdtemp(dir=tmp)) / "taipan-data"
    took = seed.seed(src, data_dir, folder, "import")
    with seed.running_server(src, data_dir) as server, server.client() as http:
        repodata = http.get(f"/{seed.CHANNEL}/{seed.SUBDIR}/repodata.json").json()
    return took, len(repodata["packages.conda"]) + len(repodata["packages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}")
    if not seed.has_import(src):
        sys.exit("this revision has no `taipan import`; try --rev worktree or a later commit")
    folder = seed.package_folder(args.records)
    size = sum(p.stat().st_size for p in (folder / seed.SUBDIR).iterdir())
    rows = []
    with seed.temp_dir("taipan-bench-import-") as tmp:
        for label, measure in (
            ("rattler index_fs (py-rattler)", lambda: rattler_rate(folder, Path(tmp))),
            ("taipan import", lambda: taipan_rate(src, folder, Path(tmp))),
        ):
            (took, count), others = seed.quietest(measure, tries=2)
            assert count == args.records, f"{label} indexed {count} of {args.records} packages"
            rows.append(
                [label, count, f"{took:.1f}", f"{count / took:,.0f}", f"{size / took / 1e6:.1f}", f"{others:.0%}"]
            )
            seed.log(f"{label}: {count / took:,.0f} packages/s")
    print()
    print(seed.table(["indexer", "packages", "seconds", "packages/s", "MB/s", "others' CPU"], rows))


if __name__ == "__main__":
    main()
