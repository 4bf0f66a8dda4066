"""An S3-compatible server on loopback for the tests: moto's standalone server (``moto[server]``).

One server per test session, started on first use; every user gets a bucket of its own.
``TAIPAN_TEST_S3_ENDPOINT`` points the tests at a server already running instead (MinIO,
say), with credentials from the usual AWS variables.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

ACCESS_KEY = "taipan-test"
SECRET_KEY = "taipan-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = REGION

    def client(self) -> S3Client:
        """One client per server: making a boto3 client costs about half a second."""
        from taipan.storage.s3 import make_client

        if self.endpoint in _clients:
            return _clients[self.endpoint]
        _clients[self.endpoint] = client = make_client(
            endpoint_url=self.endpoint,
            region=self.region,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            addressing_style="path",
        )
        return client

    def new_bucket(self) -> str:
        name = f"taipan-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, prefix: str = "channels") -> dict[str, str]:
        """What a ``taipan`` process needs to keep its packages in ``bucket``."""
        return {
            "TAIPAN_STORAGE_URL": f"s3://{bucket}/{prefix}",
            "TAIPAN_S3_ENDPOINT_URL": self.endpoint,
            "TAIPAN_S3_REGION": self.region,
            "TAIPAN_S3_ACCESS_KEY_ID": self.access_key,
            "TAIPAN_S3_SECRET_ACCESS_KEY": self.secret_key,
            "TAIPAN_S3_ADDRESSING_STYLE": "path",
        }


_lock = threading.Lock()
_clients: dict[str, S3Client] = {}
_server: S3Server | None = None


def s3_server() -> S3Server:
    """The session's S3 server, started on first call and stopped when the tests end."""
    global _server
    with _lock:
        if _server is None:
            _server = _external() or _start_moto()
        return _server


def _external() -> S3Server | None:
    endpoint = os.environ.get("TAIPAN_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    return S3Server(endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto() -> S3Server:
    port = _free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"taipan-moto-{port}.log"
    moto = Path(sys.executable).parent / "moto_server"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
    atexit.register(_stop, proc)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=2)
            return S3Server(endpoint, ACCESS_KEY, SECRET_KEY)
        except httpx.HTTPError:
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
