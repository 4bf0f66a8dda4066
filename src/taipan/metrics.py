"""Prometheus metrics: what one running Taipan counts, and how to read them out.

One :class:`Metrics` per process, made when the services are wired (nothing happens at
import). With several server processes (``taipan serve --workers N``) prometheus-client's
multiprocess mode sums them: ``PROMETHEUS_MULTIPROC_DIR`` names a folder every process
writes its values to, and ``/metrics`` in any process reports the total of all. Without
it each process reports its own (several hosts are summed by Prometheus itself).

"Queue depth": Taipan has no job queue — an upload's index update happens in its own
transaction, under its subdir's lock, before it answers. What can pile up is work waiting
for a lock: ``taipan_index_work_in_progress{work="update"}`` counts uploads between
"checked" and "committed" (waiting for the subdir's row lock, or holding it), and
``{work="build"}`` counts index files being built (or waiting for the same file's build
in another thread) after a change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "taipan_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "taipan_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of the body)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "taipan_http_requests_in_progress", "HTTP requests being answered", registry=r, multiprocess_mode="livesum"
        )
        self.uploads = Counter("taipan_uploads", "Package uploads by outcome", ["outcome"], registry=r)
        self.upload_bytes = Counter("taipan_upload_bytes", "Bytes of packages stored by uploads", registry=r)
        self.downloads = Counter(
            "taipan_downloads", "Package downloads (GET) by how they were served", ["mode"], registry=r
        )
        self.download_bytes = Counter(
            "taipan_download_bytes", "Package bytes streamed by this server (not redirected ones)", registry=r
        )
        self.index_update = Histogram(
            "taipan_index_update_duration_seconds",
            "An upload's index update: waiting for the subdir lock, moving the file, writing rows and shard",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.index_build = Histogram(
            "taipan_index_build_duration_seconds",
            "Building one index file (repodata.json, .zst, .bz2, shard index) after a change",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "taipan_index_work_in_progress",
            "Queue depth: index updates waiting for or holding a subdir lock, and index files being built",
            ["work"],
            registry=r,
            multiprocess_mode="livesum",
        )

    @contextmanager
    def updating_index(self) -> Iterator[None]:
        with self.in_progress.labels("update").track_inprogress(), self.index_update.time():
            yield

    @contextmanager
    def building_index(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        with self.in_progress.labels("build").track_inprogress():
            yield
        self.index_build.labels(kind).observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        """The text /metrics answers: every process's values in multiprocess mode, else this one's."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client's multiprocess module is untyped
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Drop this process's live gauges from the multiprocess totals (at shutdown)."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # prometheus_client's multiprocess module is untyped
