"""Shared helpers for the benchmarks: synthetic packages, seeded data dirs, a server process.

Packages are real ``.conda`` files (zip of ``metadata.json`` + ``info-*.tar.zst`` +
``pkg-*.tar.zst``) that pass Taipan's checks, written directly (not through
conda-package-streaming) because the 100k set must be cheap to make. Record ``i`` of a
set of ``n`` belongs to name ``i % (n // 10)`` so every shard holds about ten records,
as in real channels; each record depends on a few other names and carries
``run_exports`` now and then, so records are about the size of conda-forge's (~500 B).

Everything expensive is cached under ``$TAIPAN_BENCH_CACHE`` (default
``/tmp/taipan-bench-cache``):

* ``pkgs-<subdir>-<n>/``: the package folder (``<subdir>/`` and an empty ``noarch/``),
  laid out as a channel so ``taipan import`` and ``rattler.index.index_fs`` take it as is;
* ``src-<commit>/src``: the code under test, exported from git (``--rev``, default HEAD);
* ``seeded-<n>-<method>-<digest>/``: a Taipan data dir holding those packages in channel
  ``bench``, keyed by a digest of the code so a schema or ingest change reseeds.
  Each benchmark works on a copy of it.

Seeding uses ``taipan import`` when the code under test has it, else the shared ingest
path in process (bench/ingest_seed.py). Run ``python bench/seed.py 1000 10000 100000``
to fill the caches ahead of time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import zstandard

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable
CACHE = Path(os.environ.get("TAIPAN_BENCH_CACHE", "/tmp/taipan-bench-cache"))
CHANNEL = "bench"
SUBDIR = "linux-64"
RECORDS_PER_NAME = 10
SEED_BATCH = 500
MTIME = 1_700_000_000
LICENSES = ("BSD-3-Clause", "MIT", "Apache-2.0", "LGPL-2.1-or-later", "GPL-3.0-only")


# ---------------------------------------------------------------- packages


@dataclass(frozen=True)
class PackageSpec:
    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    depends: tuple[str, ...]
    run_exports: dict[str, Any] | None

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    @property
    def filename(self) -> str:
        return f"{self.stem}.conda"


def name_of(j: int) -> str:
    return f"benchpkg-{j:06d}"


def spec_for(i: int, n: int, subdir: str = SUBDIR) -> PackageSpec:
    """Record ``i`` of a set of ``n``: deterministic, about ten records per name."""
    names = max(1, n // RECORDS_PER_NAME)
    j, k = i % names, i // names
    depends = tuple(f"{name_of((j * 7 + d * 13 + 1) % names)} >={d}.0" for d in range(1 + j % 5))
    depends += ("libgcc >=13", "python >=3.10,<3.14.0a0") if j % 3 == 0 else ("libstdcxx >=13",)
    run_exports = {"weak": [f"{name_of(j)} >=1.{k}.0,<2.0a0"]} if j % 4 == 0 else None
    return PackageSpec(name_of(j), f"1.{k}.{j % 7}", f"h{j:07x}_{k % 3}", k % 3, subdir, depends, run_exports)


def _tar(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def index_json(spec: PackageSpec, timestamp: int = MTIME * 1000) -> dict[str, Any]:
    """The package's ``info/index.json``."""
    return {
        "name": spec.name,
        "version": spec.version,
        "build": spec.build,
        "build_number": spec.build_number,
        "subdir": spec.subdir,
        "depends": list(spec.depends),
        "license": LICENSES[len(spec.name + spec.version) % len(LICENSES)],
        "timestamp": timestamp,
    }


def package_bytes(spec: PackageSpec, timestamp: int = MTIME * 1000) -> bytes:
    """A valid ``.conda`` archive for ``spec``."""
    payload = f"{spec.name} {spec.version}\n".encode()
    payload_path = f"share/{spec.name}/{spec.name}.txt"
    index = index_json(spec, timestamp)
    paths = {
        "paths": [
            {
                "_path": payload_path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
        "paths_version": 1,
    }
    info = [
        ("info/index.json", json.dumps(index).encode()),
        ("info/paths.json", json.dumps(paths).encode()),
        ("info/about.json", json.dumps({"summary": f"{spec.name}, a benchmark package"}).encode()),
    ]
    if spec.run_exports is not None:
        info.append(("info/run_exports.json", json.dumps(spec.run_exports).encode()))
    zstd = zstandard.ZstdCompressor(level=3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{spec.stem}.tar.zst", zstd.compress(_tar(info)))
        zf.writestr(f"pkg-{spec.stem}.tar.zst", zstd.compress(_tar([(payload_path, payload)])))
    return buf.getvalue()


def write_package(spec: PackageSpec, folder: Path, timestamp: int = MTIME * 1000) -> Path:
    path = folder / spec.filename
    path.write_bytes(package_bytes(spec, timestamp))
    return path


def _write_range(args: tuple[int, int, int, str, str]) -> int:
    start, stop, n, subdir, folder = args
    out = Path(folder)
    for i in range(start, stop):
        write_package(spec_for(i, n, subdir), out)
    return stop - start


def package_folder(n: int, subdir: str = SUBDIR) -> Path:
    """The cached channel folder holding ``n`` packages in ``subdir``; made once (2 processes)."""
    root = CACHE / f"pkgs-{subdir}-{n}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / subdir).mkdir(parents=True)
    (root / "noarch").mkdir(exist_ok=True)
    started = time.monotonic()
    step = 1000
    jobs = [(s, min(s + step, n), n, subdir, str(root / subdir)) for s in range(0, n, step)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        done = sum(pool.imap_unordered(_write_range, jobs))
    assert done == n
    (root / ".complete").write_text(f"{n} packages in {time.monotonic() - started:.1f} s\n")
    log(f"generated {n} packages in {time.monotonic() - started:.1f} s -> {root}")
    return root


# ---------------------------------------------------------------- code under test


def snapshot(rev: str) -> Path:
    """The ``src/`` folder of git revision ``rev`` (exported once), or the working tree's for "worktree".

    Benchmarks run a committed revision by default so that edits in progress in the
    checkout cannot change, or break, the code under measurement halfway through.
    """
    if rev == "worktree":
        return REPO / "src"
    if rev.startswith("/"):  # a src folder elsewhere (e.g. a patched copy, for an experiment)
        return Path(rev)
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    root = CACHE / f"src-{commit[:12]}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"], capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(root, filter="data")
        (root / ".complete").write_text(commit + "\n")
    return root / "src"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def describe(src: Path) -> str:
    """What code a run measured: the commit, or "working tree <digest>"."""
    marker = src.parent / ".complete"
    if src != REPO / "src" and marker.exists():
        commit = marker.read_text().strip()
        return f"commit {commit[:12]} ({git('log', '-1', '--format=%s', commit)})"
    where = "working tree" if src == REPO / "src" else str(src)
    return f"{where} (src digest {src_digest(src)})"


def src_digest(src: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def taipan_env(src: Path, data_dir: Path, port: int | None = None) -> dict[str, str]:
    """Environment for a ``taipan`` process running the code in ``src`` on ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIPAN_")}
    # Bytecode is cached, as in any installed Python program: with PYTHONDONTWRITEBYTECODE
    # (set on our machines) every process compiled all it imported (~1 s per command).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(src)
    env["TAIPAN_DATA_DIR"] = str(data_dir)
    env["TAIPAN_HOST"] = "127.0.0.1"
    env["TAIPAN_LOG_LEVEL"] = "warning"
    if port is not None:
        env["TAIPAN_PORT"] = str(port)
    return env


def has_import(src: Path) -> bool:
    """Whether that code has ``taipan import`` (the bulk import command)."""
    result = subprocess.run(
        [PYTHON, "-m", "taipan", "import", "--help"],
        env=taipan_env(src, CACHE / "unused"),
        capture_output=True,
        timeout=60,
    )
    return result.returncode == 0


# ---------------------------------------------------------------- seeding


def seed_method(src: Path) -> str:
    """``import`` when the code has it, else ``ingest`` (record_files in process); env TAIPAN_BENCH_SEED wins."""
    return os.environ.get("TAIPAN_BENCH_SEED") or ("import" if has_import(src) else "ingest")


def seeded_data_dir(src: Path, n: int, dest: Path, method: str | None = None) -> float:
    """Copy a data dir seeded with the ``n``-package set into ``dest``; seed it first if not cached.

    The cache is keyed by the schema (the migration files), not by the whole code: a data
    dir seeded by an older revision with the same schema holds the same rows. Returns the
    seconds the seed took when it was made now, else 0.
    """
    method = method or seed_method(src)
    cached = CACHE / f"seeded-{n}-{method}-{schema_digest(src)}"
    took = 0.0
    if not (cached / ".complete").exists():
        shutil.rmtree(cached, ignore_errors=True)
        # Synthetic rows need no package files: only the folder's name tells the count.
        folder = CACHE / f"pkgs-{SUBDIR}-{n}" if method == "synthetic" else package_folder(n)
        took = seed(src, cached, folder, method)
        (cached / ".complete").write_text(f"{n} packages seeded by {method} in {took:.1f} s ({describe(src)})\n")
    shutil.copytree(cached, dest, symlinks=True, dirs_exist_ok=True)
    (dest / ".complete").unlink()
    return took


def schema_digest(src: Path) -> str:
    return src_digest(src / "taipan" / "db" / "migrations")


def seed(src: Path, data_dir: Path, folder: Path, method: str) -> float:
    """Put every package of ``folder`` into channel ``bench`` of a new data dir; seconds taken.

    The channel is made through the HTTP API of a briefly started server (the interface
    least likely to change under us), then filled by ``taipan import`` or ingest_seed.py.
    """
    data_dir.mkdir(parents=True)
    env = taipan_env(src, data_dir)
    with running_server(src, data_dir) as server, server.client() as http:
        http.post("/api/v1/channels", json={"name": CHANNEL, "description": "benchmark channel"}).raise_for_status()
    started = time.monotonic()
    if method == "import":
        run([PYTHON, "-m", "taipan", "import", str(folder), "--channel", CHANNEL], env)
    elif method == "synthetic":
        count = folder.name.rsplit("-", 1)[1]
        run([PYTHON, str(Path(__file__).resolve().parent / "synth_seed.py"), count, CHANNEL], env)
    else:
        run([PYTHON, str(Path(__file__).resolve().parent / "ingest_seed.py"), str(folder), CHANNEL], env)
    took = time.monotonic() - started
    log(f"seeded {folder.name} by {method} in {took:.1f} s")
    (data_dir / "server.log").unlink(missing_ok=True)
    return took


def run(cmd: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3 * 3600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)


@contextmanager
def running_server(src: Path, data_dir: Path, workers: int = 1) -> Iterator[Server]:
    """``taipan serve --workers N`` on a free loopback port."""
    port = free_port()
    env = taipan_env(src, data_dir, port)
    cmd = [PYTHON, "-m", "taipan", "serve", *(["--workers", str(workers)] if workers > 1 else [])]
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log_path)
        token = (data_dir / "admin-token").read_text().strip()
        yield Server(url, token, data_dir, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not become ready:\n{log_path.read_text()}")


# ---------------------------------------------------------------- profiling

SPY_RATE = 200


@dataclass
class Recording:
    stacks: Path
    seconds: float = 0.0

    def summary(self) -> str:
        return summarize(self.stacks, int(self.seconds * SPY_RATE))


@contextmanager
def py_spy(pid: int, max_s: int, gil: bool = True) -> Iterator[Recording]:
    """Record ``pid`` with py-spy while the block runs (at most ``max_s``); summarise it afterwards.

    py-spy comes from PyPI in its own venv (``/tmp/benchvenv/bin/py-spy``, or PY_SPY).
    With ``gil`` only the thread holding the GIL is sampled: the samples say what the
    process's Python was doing, and their count how much of the wall time it ran at all.
    """
    exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "/tmp/benchvenv/bin/py-spy"
    out = Path(tempfile.mkdtemp(prefix="taipan-bench-spy-")) / "stacks.txt"
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(max_s), "--rate", str(SPY_RATE)]
    cmd += ["--format", "raw", "--output", str(out), "--nonblocking"] + (["--gil"] if gil else [])
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # let it attach
    started = time.monotonic()
    recording = Recording(out)
    try:
        yield recording
    finally:
        recording.seconds = time.monotonic() - started
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if not out.exists():
            log(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
            out.write_text("")


def summarize(raw: Path, possible: int, top: int = 25) -> str:
    """Where the samples fall, from py-spy's collapsed stacks.

    Two lists: functions by inclusive share (leaving out the roots every sample passes
    through), and by own share (the sample's innermost frame).
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    if not total:
        return "no samples"
    lines = [f"{total} GIL-holding samples of ~{possible} possible ({total / max(1, possible):.0%} of wall time)"]
    lines.append("inclusive %  function")
    shown = [(f, c) for f, c in inclusive.most_common() if c < 0.97 * total][:top]
    lines += [f"  {100 * c / total:5.1f}  {f}" for f, c in shown]
    lines.append("own %  function")
    lines += [f"  {100 * c / total:5.1f}  {f}" for f, c in own.most_common(15)]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/module.py:123)"; drop the line number
    # and the site-packages prefix.
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\(\S*site-packages/", "(", frame)


# ---------------------------------------------------------------- reporting


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_busy(seconds: float = 1.0) -> float:
    """The fraction of all CPUs busy over ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit_s: float = 300, threshold: float = 0.15) -> float:
    """Wait (at most ``limit_s``) until other work leaves the CPUs nearly idle; the busy fraction seen.

    The machine may be shared (test suites running next to us); figures taken while it is
    busy are not comparable, so each measurement starts in a quiet moment when there is one.
    TAIPAN_BENCH_QUIET_WAIT overrides the limit (0: do not wait).
    """
    limit_s = float(os.environ.get("TAIPAN_BENCH_QUIET_WAIT", limit_s))
    deadline = time.monotonic() + limit_s
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(2.0)
    if busy > threshold:
        log(f"warning: the CPUs are {busy:.0%} busy with other work; figures will be low")
    return busy


def _jiffies() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def _proc_table() -> tuple[dict[int, int], dict[int, int]]:
    """Parent pid and CPU jiffies (user + system) of every process, by pid."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = int(fields[11]) + int(fields[12])
        if pid == os.getpid():
            # our own figure includes waited-for children (cutime, cstime): helpers that
            # ran and ended during a measurement count as ours
            times[pid] += int(fields[13]) + int(fields[14])
    return parents, times


def _tree(parents: dict[int, int], root: int) -> set[int]:
    tree = {root}
    for _ in range(10):  # descendants, by generations (bounded)
        tree |= {pid for pid, ppid in parents.items() if ppid in tree}
    return tree


def _process_times() -> dict[int, int]:
    """CPU jiffies of this process and every live descendant, by pid."""
    parents, times = _proc_table()
    return {pid: times[pid] for pid in _tree(parents, os.getpid()) if pid in times}


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by process ``root`` and its live descendants."""
    parents, times = _proc_table()
    return sum(times.get(pid, 0) for pid in _tree(parents, root)) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """How much of all CPUs processes outside this benchmark used while it measured."""

    others: float = 0.0


@contextmanager
def other_load(every_s: float = 0.25) -> Iterator[Load]:
    """Measure the CPU share of processes that are not this one or its descendants.

    Our processes are sampled every ``every_s`` from a thread, keeping the last figure
    seen per pid: a helper that dies unwaited (a pool worker of a forkserver) still counts
    as ours, less at most one interval of its time.
    """
    load = Load()
    stop = threading.Event()
    seen: dict[int, int] = {}

    def sample() -> None:
        for pid, jiffies in _process_times().items():
            seen[pid] = max(jiffies, seen.get(pid, 0))

    def sampler() -> None:
        while not stop.wait(every_s):
            sample()

    total0, idle0 = _jiffies()
    start = _process_times()
    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        yield load
    finally:
        stop.set()
        thread.join()
        total1, idle1 = _jiffies()
        sample()
        mine = sum(t - start.get(pid, 0) for pid, t in seen.items())
        busy = (total1 - total0) - (idle1 - idle0)
        load.others = max(0.0, busy - mine) / max(1, total1 - total0)


T = TypeVar("T")


def quietest(measure: Callable[[], T], tries: int = 3, threshold: float = 0.10) -> tuple[T, float]:
    """Run ``measure`` (after waiting for a quiet moment) until other processes used less than
    ``threshold`` of the CPUs meanwhile, at most ``tries`` times; the result with the least
    such load, and that load."""
    best: tuple[T, float] | None = None
    for attempt in range(tries):
        wait_quiet()
        with other_load() as load:
            result = measure()
        if best is None or load.others < best[1]:
            best = (result, load.others)
        if load.others < threshold:
            break
        log(f"  other processes used {load.others:.0%} of the CPUs during try {attempt + 1}; trying again")
    assert best is not None
    return best


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024**2:.1f} GiB RAM, Python {sys.version.split()[0]}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output pastes straight into docs/benchmarks.md."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix, dir=os.environ.get("TAIPAN_BENCH_TMP"))


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description="Fill the package and seeded-data-dir caches.")
    parser.add_argument("sizes", type=int, nargs="*", default=[1000, 10000])
    add_rev_option(parser)
    args = parser.parse_args(argv)
    src = snapshot(args.rev)
    method = seed_method(src)
    print(f"code: {describe(src)}; seed method: {method}")
    for n in args.sizes:
        with temp_dir("taipan-seed-") as tmp:
            took = seeded_data_dir(src, n, Path(tmp) / "data", method)
        print(f"{n}: seeded by {method}" + (f" in {took:.1f} s" if took else " (cached)"))


def add_rev_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rev",
        default=os.environ.get("TAIPAN_BENCH_REV", "HEAD"),
        help='git revision of Taipan to measure, "worktree" for the checkout as it is, or the absolute path '
        "of a src folder [default: HEAD]",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
