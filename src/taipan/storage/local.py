"""Storage in a local folder. Writes go to a temporary file renamed into place, so readers
never see half a file, and a crash leaves at most a stray temporary file."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from taipan.storage.base import ObjectInfo, check_key

CHUNK = 1024 * 1024
TMP_DIR = ".tmp"


class LocalWriter:
    def __init__(self, final: Path, tmp: Path, key: str) -> None:
        self._final = final
        self._tmp = tmp
        self._key = key
        self._file: IO[bytes] = open(tmp, "wb")  # noqa: SIM115 - closed in close/abort

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> ObjectInfo:
        self._file.close()
        _replace(self._tmp, self._final)
        return _info(self._key, self._final)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalStorage:
    parallel_requests = 1

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / TMP_DIR).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str) -> LocalWriter:
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        return LocalWriter(self._path(key), tmp, key)

    def open(self, key: str) -> IO[bytes]:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (IsADirectoryError, NotADirectoryError):  # a prefix, or under an object: no object there
            raise FileNotFoundError(key) from None

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with self.open(key) as f:
            f.seek(start)
            left = end - start
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):  # a folder is a prefix, not an object
            return None
        return ObjectInfo(key=key, size=st.st_size, modified_ns=st.st_mtime_ns)

    def move(self, src: str, dst: str) -> ObjectInfo:
        target = self._path(dst)
        _replace(self._path(src), target)
        return _info(dst, target)

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[ObjectInfo]:
        # A writer's steps without its objects (an import writes thousands of small files here).
        root, tmp_dir = str(self.root), str(self.root / TMP_DIR)
        infos = []
        for key, data in items:
            final = os.path.join(root, check_key(key))
            tmp = os.path.join(tmp_dir, uuid.uuid4().hex)
            try:
                with open(tmp, "wb") as out:
                    out.write(data)
                _replace(tmp, final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            st = os.stat(final)
            infos.append(ObjectInfo(key=key, size=st.st_size, modified_ns=st.st_mtime_ns))
        return infos

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_many(self, keys: Sequence[str]) -> None:
        root = str(self.root)
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(root, check_key(key)))

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix.rstrip("/")), ignore_errors=True)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != TMP_DIR]
            for name in filenames:
                path = Path(dirpath) / name
                yield _info(path.relative_to(self.root).as_posix(), path)

    def remove_partial_writes(self, before_ns: int) -> int:
        # A temporary file's mtime is its last write: a live upload keeps refreshing it.
        removed = 0
        for path in (self.root / TMP_DIR).iterdir():
            try:
                if path.is_file() and path.stat().st_mtime_ns < before_ns:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # closed, aborted or swept by another process meanwhile
                continue
        return removed

    def check(self) -> None:
        probe = self.root / TMP_DIR / f"probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()


def _replace(src: str | Path, dst: str | Path) -> None:
    """``os.replace``, making ``dst``'s folder first if it is missing (tried only when the rename
    fails: a folder is new once, a rename happens for every file). A missing ``src`` still raises."""
    try:
        os.replace(src, dst)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)


def _info(key: str, path: Path) -> ObjectInfo:
    st = path.stat()
    return ObjectInfo(key=key, size=st.st_size, modified_ns=st.st_mtime_ns)
