"""Start a real ``taipan serve`` process on loopback for functional tests."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from taipan.storage.base import Storage
from taipan.storage.local import LocalStorage
from taipan.storage.s3 import S3Storage
from tests.support.s3 import s3_server

# One TLS context for every test client: httpx builds a new one per client otherwise (~40 ms).
TLS = ssl.create_default_context()
POSTGRES_ADMIN_URL = os.environ.get("TAIPAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = "admin") -> httpx.Client:
        headers = {}
        if token == "admin":
            headers["Authorization"] = f"Bearer {self.token}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, verify=TLS)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TAIPAN_DATA_DIR": str(self.data_dir),
            "TAIPAN_DATABASE_URL": self.database_url,
            **storage_env(self.data_dir),
        }

    def storage(self) -> Storage:
        """The server's package storage, to look at (or tamper with) what it holds."""
        return storage_of(self.data_dir)

    def stored_files(self) -> dict[str, tuple[int, int]]:
        """Everything in the server's storage → (size, modified_ns), internal objects included:
        a local folder's temporary files, an S3 bucket's unfinished multipart uploads."""
        return stored_files(self.data_dir)


def backend() -> str:
    return os.environ.get("TAIPAN_TEST_DB", "sqlite")


def storage_backend() -> str:
    """``local`` (a folder in the data dir) or ``s3`` (a bucket per data dir on the test S3 server)."""
    return os.environ.get("TAIPAN_TEST_STORAGE", "local")


def _bucket(data_dir: Path) -> str:
    """The bucket of a data dir: the same one every time, so a restarted server finds its files."""
    name = f"taipan-{uuid.uuid5(uuid.NAMESPACE_URL, str(data_dir.resolve())).hex}"
    if name not in _buckets:
        client = s3_server().client()
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        _buckets.add(name)
    return name


_buckets: set[str] = set()


def storage_env(data_dir: Path) -> dict[str, str]:
    """What a ``taipan`` process needs to use the storage of ``data_dir`` (nothing for a local folder)."""
    if storage_backend() == "local":
        return {}
    return s3_server().env(_bucket(data_dir))


def stored_files(data_dir: Path) -> dict[str, tuple[int, int]]:
    if storage_backend() == "local":
        root = data_dir / "channels"
        return {
            path.relative_to(root).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in root.rglob("*")
            if path.is_file()
        }
    storage = storage_of(data_dir)
    assert isinstance(storage, S3Storage)
    files = {info.key: (info.size, info.modified_ns) for info in storage.list("")}
    unfinished = storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    files.update({f"(multipart upload) {upload['Key']}": (0, 0) for upload in unfinished})
    return files


def storage_of(data_dir: Path) -> Storage:
    """The storage a server on ``data_dir`` uses, opened here through the same adapter."""
    if storage_backend() == "local":
        return LocalStorage(data_dir / "channels")
    return S3Storage(s3_server().client(), _bucket(data_dir), "channels")


@contextmanager
def database_url(data_dir: Path) -> Iterator[str]:
    """A fresh, empty database of the backend under test."""
    if backend() == "sqlite":
        yield f"sqlite:///{data_dir / 'taipan.db'}"
        return
    import psycopg

    name = f"taipan_test_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{admin.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_server(data_dir: Path, db_url: str, extra_env: dict[str, str | None] | None = None) -> Iterator[Server]:
    """Run ``taipan serve``; ``extra_env`` adds variables, and removes those given as None."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / "server.log"
    env = {
        **os.environ,
        "TAIPAN_DATA_DIR": str(data_dir),
        "TAIPAN_DATABASE_URL": db_url,
        "TAIPAN_PORT": str(port),
        "TAIPAN_HOST": "127.0.0.1",
        **storage_env(data_dir),
    }
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taipan", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        token_dir = Path(env.get("TAIPAN_DATA_DIR", data_dir))
        token = (token_dir / "admin-token").read_text().strip() if (token_dir / "admin-token").exists() else ""
        yield Server(url, token, data_dir, db_url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"taipan serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"taipan serve did not become ready:\n{log.read_text()}")
