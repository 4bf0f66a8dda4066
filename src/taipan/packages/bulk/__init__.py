"""Many packages at once: import a folder tree, or rebuild the records from storage alone.

Both spend most of their time copying, hashing and checking archives, so that part
runs in worker processes, one per core (an import's workers also stage each file into
storage, hashing the very bytes they write). The main process keeps what must be
serial: recording the checked files through :func:`record_files` in batches of one
subdir. A batch is one transaction under the
subdir's lock (one revision bump, one shard rewrite per touched name), with the same
guarantee as an upload: a file is in place exactly when its record is committed.
"""

from taipan.packages.bulk.importing import IMPORT_UPLOADER, ImportReport, ensure_channel, find_packages, import_folder
from taipan.packages.bulk.pool import Limits, default_workers
from taipan.packages.bulk.rebuild import RebuildReport, rebuild_index
from taipan.packages.bulk.reporting import Problem, Progress

__all__ = [
    "IMPORT_UPLOADER",
    "ImportReport",
    "Limits",
    "Problem",
    "Progress",
    "RebuildReport",
    "default_workers",
    "ensure_channel",
    "find_packages",
    "import_folder",
    "rebuild_index",
]
