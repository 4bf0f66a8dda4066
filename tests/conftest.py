"""Fixtures shared by every test folder. Each is overridable in a nearer conftest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Server, database_url, running_server


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Start extra servers: ``with server_factory() as srv: ...``."""
    from contextlib import contextmanager

    @contextmanager
    def make(extra_env: dict[str, str | None] | None = None) -> Iterator[Server]:
        data_dir = tmp_path_factory.mktemp("taipan")
        with database_url(data_dir) as url, running_server(data_dir, url, extra_env) as srv:
            yield srv

    return make


@pytest.fixture(scope="session")
def server(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """One server for the whole session; tests use their own channels on it.

    Tests send many bad credentials on purpose, so its auth rate limit is out of reach here
    (tests/functional/test_auth.py checks the limit on a server of its own). Its blocks of
    repodata.json.zst hold ~2 records instead of ~1024, so that every channel in the tests
    has several and changes split and merge them; and a repodata.json over 4 KB (a channel of
    ten records or so) is streamed, decompressed as it is sent, as conda-forge-sized ones are."""
    settings = {
        "TAIPAN_AUTH_FAILURE_LIMIT": "1000000",
        "TAIPAN_INDEX_BLOCK_RECORDS": "2",
        "TAIPAN_INDEX_HOLD_PLAIN_BYTES": "4096",
        "TAIPAN_INDEX_SHARE_BLOCKS": "true",  # one process on SQLite would not publish them
    }
    with server_factory(settings) as srv:
        yield srv


@pytest.fixture
def channel(server: Server, request: pytest.FixtureRequest) -> str:
    """A fresh channel named after the test."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] + "-" + uuid.uuid4().hex[:6]
    with server.client() as http:
        response = http.post("/api/v1/channels", json={"name": name})
        assert response.status_code == 201, response.text
    return name


@pytest.fixture
def pkgdir(tmp_path: Path) -> Path:
    return tmp_path / "pkgs"
