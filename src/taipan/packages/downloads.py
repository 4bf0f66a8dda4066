"""Download counts of package files, added up in memory and written in batches.

A database write on every download would put each one behind the write lock that uploads
hold (SQLite has one for the whole database), so downloads only bump a counter here; a
background thread adds the counts to ``package_files.download_count`` every few seconds,
and at shutdown. Counts not yet written are lost if the process dies: they are a popularity
figure, not an audit record. ``pending`` lets pages of this process show them at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from sqlalchemy import bindparam, select, update

from taipan.db.engine import Database
from taipan.db.models import Channel, PackageFile, Subdir

log = logging.getLogger(__name__)

FileKey = tuple[str, str, str]
"""(channel, subdir, filename)"""


class DownloadCounter:
    def __init__(self, db: Database, interval_s: float = 5.0) -> None:
        self._db = db
        self._interval = interval_s
        self._counts: Counter[FileKey] = Counter()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, channel: str, subdir: str, filename: str) -> None:
        with self._lock:
            self._counts[(channel, subdir, filename)] += 1
            if self._thread is None:  # started by the first download, so CLI tools never start one
                self._thread = threading.Thread(target=self._run, name="taipan-downloads", daemon=True)
                self._thread.start()

    def pending(self, channel: str, subdir: str, filename: str) -> int:
        with self._lock:
            return self._counts.get((channel, subdir, filename), 0)

    def flush(self) -> None:
        """Write the counts gathered so far (one statement, many parameter sets)."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, Counter()
            if not counts:
                return
            try:
                with self._db.write() as session:
                    session.connection().execute(_ADD, [_params(key, n) for key, n in counts.items()])
            except Exception:
                log.exception("could not record %d download counts; keeping them for the next try", len(counts))
                with self._lock:
                    self._counts.update(counts)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()


def _params(key: FileKey, n: int) -> dict[str, object]:
    channel, subdir, filename = key
    return {"c": channel, "s": subdir, "f": filename, "n": n}


_SUBDIR_ID = (
    select(Subdir.id)
    .join(Channel, Channel.id == Subdir.channel_id)
    .where(Channel.name == bindparam("c"), Subdir.name == bindparam("s"))
    .scalar_subquery()
)
_ADD = (
    update(PackageFile)
    .where(PackageFile.subdir_id == _SUBDIR_ID, PackageFile.filename == bindparam("f"))
    .values(download_count=PackageFile.download_count + bindparam("n"))
)
