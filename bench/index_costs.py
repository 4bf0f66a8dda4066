"""What building each index file costs, by subdir size: the cost model of
taipan.indexing.artifacts checked against numbers.

For each size, on a copy of a seeded data dir, in process (bench/index_probe.py): build
the shard index, repodata.json and repodata.json.zst cold (empty build cache), median of
``--repeat``; also the pure parts (zstd alone; encoding the shard index from its map
alone). Prints ms, and ms per 1000 records (or names): flat per-unit figures across
sizes mean the cost is linear in that unit. ``--profile`` adds a pyinstrument profile of
one cold repodata.json.zst build at the largest size.

    .venv/bin/python bench/index_costs.py --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import seed
from profile_ingest import BENCHVENV_SITE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    seed.add_rev_option(parser)
    args = parser.parse_args()
    src = seed.snapshot(args.rev)
    print(f"machine: {seed.machine()}")
    print(f"code: {seed.describe(src)}")
    rows, profiles = [], []
    for n in args.sizes:
        with seed.temp_dir("taipan-bench-index-") as tmp:
            data_dir = Path(tmp) / "data"
            seed.seeded_data_dir(src, n, data_dir)
            env = seed.taipan_env(src, data_dir)
            env["PYTHONPATH"] += os.pathsep + os.environ.get("PYINSTRUMENT_SITE", BENCHVENV_SITE)
            profile = "1" if args.profile and n == max(args.sizes) else "0"
            probe = str(Path(__file__).resolve().parent / "index_probe.py")
            cmd = [seed.PYTHON, probe, str(data_dir), str(n), str(args.repeat), profile]

            def once(cmd: list[str] = cmd, env: dict[str, str] = env) -> str:
                return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=1800).stdout

            out, others = seed.quietest(once)
        for line in out.splitlines():
            if line.startswith("{"):
                item = json.loads(line)
                by_name = "shard" in item["kind"]  # the shard index is a map of names
                unit = n // seed.RECORDS_PER_NAME if by_name else n
                per = "names" if by_name else "records"
                rows.append(
                    [
                        n,
                        item["kind"],
                        f"{item['ms']:.1f}",
                        f"{item['ms'] * 1000 / unit:.2f} per 1k {per}",
                        f"{item['bytes']:,}",
                        f"{others:.0%}",
                    ]
                )
            else:
                profiles.append(line)
    print()
    print(seed.table(["records", "build (cold)", "median ms", "per unit", "bytes / entries", "others' CPU"], rows))
    if profiles:
        print("\n".join(profiles))


if __name__ == "__main__":
    main()
