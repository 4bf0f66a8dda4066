"""Where one upload's time goes on the server side, by subdir size (wall clock, in process).

py-spy ``--gil`` cannot see time spent inside SQLite (the sqlite3 module releases the
GIL), so this runs the upload use-case's steps in process on a copy of a seeded data dir
and times each: staging the bytes, ``check_package`` and
``record_files`` (one transaction: lock the subdir, move, insert, rewrite one shard).
``record_files`` is also profiled with pyinstrument (wall clock, so SQLite time counts),
from the venv it was installed into (``/tmp/benchvenv``, or PYINSTRUMENT_SITE).

    .venv/bin/python bench/profile_ingest.py --records 1000 100000
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import seed

BENCHVENV_SITE = "/tmp/benchvenv/lib/python3.11/site-packages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--count", type=int, default=40)
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}")
    for n in args.records:
        with seed.temp_dir("taipan-bench-profile-") as tmp:
            data_dir = Path(tmp) / "data"
            seed.seeded_data_dir(src, n, data_dir)
            seed.wait_quiet()
            env = seed.taipan_env(src, data_dir)
            env["PYTHONPATH"] += os.pathsep + os.environ.get("PYINSTRUMENT_SITE", BENCHVENV_SITE)
            cmd = [seed.PYTHON, str(Path(__file__).resolve().parent / "ingest_probe.py"), str(data_dir), str(n)]
            cmd.append(str(args.count))
            print(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=1800).stdout)


if __name__ == "__main__":
    main()
