"""Many packages at once: import a folder tree, or rebuild the records from storage alone.

Both spend most of their time copying, hashing and checking archives, so that part
runs in worker processes, one per core. An import's worker reads a small file (up to
128 KiB) into memory once, hashes and checks those bytes and sends them back with the
result; a larger one it stages into storage, hashing the very bytes it writes, and
checks the staged copy. The main process keeps what must be serial: recording the
checked files through :func:`record_files` in batches of one subdir, where held bytes
are written straight to their final keys (``Storage.put_many``: on S3, one PUT per file,
16 at a time) and staged ones moved. A batch is one transaction under the subdir's lock
(one revision bump, one statement each for the rows, audit events, labels and shards),
with the same guarantee as an upload: a file is in place exactly when its record is
committed.

The modules are imported one by one (``taipan.packages.bulk.importing``, ``.rebuild``):
this package imports none of them, so that a worker importing ``.work`` loads only that.
"""
