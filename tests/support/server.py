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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

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
        }


def backend() -> str:
    return os.environ.get("TAIPAN_TEST_DB", "sqlite")


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
