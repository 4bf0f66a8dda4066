"""The parallel part of bulk work: copy, hash and check package files in worker processes.

Jobs go to a pool of processes (one per core by default) a few chunks at a time, and
their results come back in the order of the jobs, so the main process can record them
in batches while memory stays flat.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from taipan.packages.checks import Checked
from taipan.storage.base import Storage
from taipan.storage.factory import StorageConfig, open_storage

BATCH = 256
"""Files recorded per transaction: large enough to amortise a commit, small enough to hold a lock briefly."""
CHUNK = 4 * 1024 * 1024
CHUNK_JOBS = 32
"""Files a worker checks per round trip (fewer when there are few files)."""
IN_FLIGHT = 4
"""Chunks per worker queued ahead of the results taken so far."""


@dataclass(frozen=True)
class Limits:
    max_size: int
    max_ratio: int
    hold_up_to: int = 0
    """Import: files up to this many bytes are checked from memory and carried back, not staged."""


def in_flight(workers: int) -> int:
    """How many jobs' results can be on their way back at once (see :func:`run_jobs`)."""
    return max(1, workers) * IN_FLIGHT * CHUNK_JOBS


@dataclass(frozen=True)
class Job:
    location: str
    """A local path (import) or a storage key (rebuild)."""
    filename: str
    subdir: str | None
    """The subdir the file's folder names, which its index.json must agree with."""


@dataclass(frozen=True)
class Result:
    job: Job
    checked: Checked | None
    error: str | None
    staged_key: str | None = None
    """Import: where the worker staged the bytes it hashed and checked (None when refused or held)."""
    data: bytes | None = None
    """Import: a small file's bytes, checked from memory and carried back instead of staged."""


def message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


Work = Callable[[Job, Limits, Storage], Result]


def _in_worker(job: Job, work: Work, limits: Limits, storage_url: StorageConfig | str) -> Result:
    return work(job, limits, _worker_storage(storage_url))


@functools.cache
def _worker_storage(url: StorageConfig | str) -> Storage:
    """One storage adapter per worker process, made on its first job."""
    return open_storage(url)


def run_jobs(
    jobs: list[Job],
    work: Work,
    limits: Limits,
    storage: Storage,
    storage_url: StorageConfig | str | None,
    workers: int,
) -> Iterator[Result]:
    """``work`` done on every job, results in order: in worker processes when they can open the storage."""
    if storage_url is None:
        return (work(job, limits, storage) for job in jobs)
    in_worker = functools.partial(_in_worker, work=work, limits=limits, storage_url=storage_url)
    return _in_processes(jobs, in_worker, workers)


def _in_processes(jobs: list[Job], work: Callable[[Job], Result], workers: int) -> Iterator[Result]:
    """``work`` done on every job in worker processes, results in the order of ``jobs``.

    Only a few chunks per worker are in flight at once, so memory stays flat however
    many files there are, even when recording is slower than checking.
    """
    if not jobs:
        return
    workers = max(1, min(workers, len(jobs)))
    size = max(1, min(CHUNK_JOBS, len(jobs) // (workers * 8)))
    chunks = iter([jobs[i : i + size] for i in range(0, len(jobs), size)])
    run = functools.partial(_work_chunk, work=work)
    pool = ProcessPoolExecutor(workers, mp_context=_process_context())
    try:
        pending = deque(pool.submit(run, chunk) for chunk in itertools.islice(chunks, workers * IN_FLIGHT))
        while pending:
            results = pending.popleft().result()
            for chunk in itertools.islice(chunks, 1):
                pending.append(pool.submit(run, chunk))
            yield from results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _work_chunk(jobs: list[Job], work: Callable[[Job], Result]) -> list[Result]:
    return [work(job) for job in jobs]


def _process_context() -> multiprocessing.context.BaseContext:
    # forkserver, not fork: this process has threads (a progress display, database pools),
    # and forking those can deadlock. The server preloads the bulk package, so workers start fast.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([f"{__package__}.work"])  # the work functions of import and rebuild
    return ctx


def default_workers() -> int:
    # One per core, although this process needs some CPU too: measured on 2 cores, 2
    # workers beat 1 by about 10% on an idle machine (and lose when other work competes).
    return os.cpu_count() or 1
