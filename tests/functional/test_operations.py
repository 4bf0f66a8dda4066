"""Running Taipan in production: the schema policy at start, several worker processes,
Prometheus metrics, JSON logs, and package downloads redirected to presigned URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from taipan.db import migrate
from taipan.db.engine import Database
from tests.support import packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server, backend, database_url, running_server, storage_backend, storage_env
from tests.support.upload import upload_raw

OLD_REVISION = "0001"


@contextmanager
def opened(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    try:
        yield db
    finally:
        db.dispose()


def schema_state(db_url: str) -> str:
    with opened(db_url) as db:
        return migrate.schema_state(db)


def migrate_to(db_url: str, revision: str) -> None:
    """Leave a database at an older revision, as an older Taipan would have."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    with opened(db_url) as db, db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def taipan(data_dir: Path, db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "TAIPAN_DATA_DIR": str(data_dir),
        "TAIPAN_DATABASE_URL": db_url,
        **storage_env(data_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "taipan", *args], capture_output=True, text=True, env=full, timeout=120
    )


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


# --- the schema at start --------------------------------------------------------------------


@pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL only: SQLite is migrated on start")
def test_serve_refuses_a_postgresql_schema_behind_until_upgraded(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        migrate_to(db_url, OLD_REVISION)
        refused = taipan(tmp_path, db_url, "serve", TAIPAN_PORT="1")
        assert refused.returncode != 0
        assert f"at revision {OLD_REVISION}" in refused.stderr
        assert "taipan db upgrade" in refused.stderr
        assert "--migrate" in refused.stderr
        upgraded = taipan(tmp_path, db_url, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"(was {OLD_REVISION})" in upgraded.stdout
        assert schema_state(db_url) == "current"


@pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL only: SQLite is migrated on start")
def test_serve_migrate_opts_in(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        migrate_to(db_url, OLD_REVISION)
        with running_server(tmp_path, db_url, {"TAIPAN_MIGRATE": "1"}) as srv:
            assert httpx.get(f"{srv.url}/health/ready").status_code == 200


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite only: the embedded default migrates itself")
def test_serve_migrates_sqlite_by_itself(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        migrate_to(db_url, OLD_REVISION)
        with running_server(tmp_path, db_url) as srv:
            assert httpx.get(f"{srv.url}/health/ready").status_code == 200
        assert schema_state(db_url) == "current"


def test_serve_refuses_a_database_of_something_else_or_newer(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        with opened(db_url) as db, db.write() as session:
            session.execute(text("CREATE TABLE someone_elses (id INTEGER)"))
        foreign = taipan(tmp_path, db_url, "serve", TAIPAN_PORT="1")
        assert foreign.returncode != 0
        assert "no Taipan schema version" in foreign.stderr
        with opened(db_url) as db:
            with db.write() as session:
                session.execute(text("DROP TABLE someone_elses"))
            migrate.upgrade(db)
            with db.write() as session:
                session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        newer = taipan(tmp_path, db_url, "serve", TAIPAN_PORT="1")
        assert newer.returncode != 0
        assert "a newer Taipan migrated it" in newer.stderr


# --- workers, metrics, logs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    env = {"TAIPAN_WORKERS": "2", "TAIPAN_LOG_FORMAT": "json", "TAIPAN_ACCESS_LOG": "true"}
    with server_factory(env) as srv:
        yield srv


def _wait_for_workers(server: Server, count: int, timeout_s: float = 90) -> None:
    """The server answers once one worker is up; on a busy machine the next may take a while."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.log.read_text().count("Application startup complete") >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not start in {timeout_s} s:\n{server.log.read_text()}")


def test_two_workers_serve_one_app_and_sum_their_metrics(two_workers: Server, tmp_path: Path) -> None:
    _wait_for_workers(two_workers, 2)
    channel = f"ops-{uuid.uuid4().hex[:6]}"
    path = packages.build(Spec("opspkg", subdir="linux-64"), tmp_path)
    with two_workers.client() as http:
        before = http.get("/metrics").text
        assert http.post("/api/v1/channels", json={"name": channel}).status_code == 201
        assert upload_raw(http, channel, path).status_code == 200

    def fetch(_: int) -> int:  # a connection each, so the workers share them
        return httpx.get(f"{two_workers.url}/{channel}/linux-64/repodata.json").status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(fetch, range(20))) == [200] * 20
    with two_workers.client() as http:
        got = http.get(f"/{channel}/linux-64/{path.name}", follow_redirects=True)
        assert got.content == path.read_bytes()
        after = http.get("/metrics").text
    route = "/{channel}/{subdir}/{filename}"
    # Whichever worker answers /metrics, it reports the requests both answered.
    assert metric(after, "taipan_http_requests_total", method="GET", route=route, status="200") - metric(
        before, "taipan_http_requests_total", method="GET", route=route, status="200"
    ) == pytest.approx(21)
    assert metric(after, "taipan_uploads_total", outcome="stored") - metric(
        before, "taipan_uploads_total", outcome="stored"
    ) == pytest.approx(1)
    assert metric(after, "taipan_index_update_duration_seconds_count") >= 1
    assert metric(after, "taipan_index_build_duration_seconds_count", kind="repodata.json") >= 1
    downloads = metric(after, "taipan_downloads_total", mode="stream") + metric(
        after, "taipan_downloads_total", mode="redirect"
    )
    assert downloads >= 1
    assert 'taipan_index_work_in_progress{work="update"}' in after
    pids = set()
    for line in two_workers.log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            assert {"time", "level", "logger", "message", "pid"} <= set(entry)
            if entry["logger"] == "taipan.access":
                assert entry["route"]
                pids.add(entry["pid"])
    started = {entry for entry in two_workers.log.read_text().splitlines() if "Started server process" in entry}
    assert len(started) == 2
    assert len(pids) == 2, "both workers answered requests"


# --- presigned downloads --------------------------------------------------------------------


@pytest.mark.skipif(storage_backend() != "s3", reason="presigned downloads need S3 storage")
def test_package_gets_redirect_to_presigned_urls_heads_and_indexes_do_not(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    channel = f"pre-{uuid.uuid4().hex[:6]}"
    path = packages.build(Spec("presigned", subdir="linux-64"), tmp_path)
    data = path.read_bytes()
    with server_factory({"TAIPAN_S3_PRESIGNED_DOWNLOADS": "true", "TAIPAN_S3_PRESIGN_EXPIRY": "120"}) as srv:
        with srv.client() as http:
            assert http.post("/api/v1/channels", json={"name": channel}).status_code == 201
            assert upload_raw(http, channel, path).status_code == 200
        with srv.client(token=None) as http:
            url = f"/{channel}/linux-64/{path.name}"
            get = http.get(url)
            assert get.status_code == 302
            assert "X-Amz-Signature=" in get.headers["location"]
            assert "X-Amz-Expires=120" in get.headers["location"]
            assert httpx.get(get.headers["location"]).content == data
            ranged = http.get(url, headers={"Range": "bytes=10-19"}, follow_redirects=True)
            assert (ranged.status_code, ranged.content) == (206, data[10:20])
            head = http.head(url)
            assert head.status_code == 200
            assert head.headers["content-length"] == str(len(data))
            for kind in ("repodata.json", "repodata_shards.msgpack.zst"):
                assert http.get(f"/{channel}/linux-64/{kind}").status_code == 200
            assert http.get(url, headers={"If-None-Match": f'"{packages.sha256_of(path)}"'}).status_code == 304
        # A real client follows the redirect and installs from the store.
        installed = rattler_client.solve(
            [f"{srv.url}/{channel}"], ["presigned"], tmp_path / "c", prefix=tmp_path / "env"
        )
        assert installed["ok"], installed
        assert len(installed["installed"]) == 1


@pytest.mark.skipif(storage_backend() != "local", reason="checks the refusal on local storage")
def test_presigned_downloads_need_s3(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        result = taipan(tmp_path, db_url, "serve", TAIPAN_S3_PRESIGNED_DOWNLOADS="true", TAIPAN_PORT="1")
    assert result.returncode != 0
    assert "s3_presigned_downloads needs s3:// storage" in result.stderr
