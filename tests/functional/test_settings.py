"""Configuration by TOML file and TAIPAN_* environment variables."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from taipan.settings import Settings
from tests.support.server import database_url, running_server

# On the SQLite pass only (how settings are read, whatever the backends).
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("variable", ["TAIPAN_CONFIG", "TAIPAN_CONFIG_FILE"])
def test_toml_config_file_and_env(tmp_path: Path, variable: str) -> None:
    """TAIPAN_CONFIG is the documented name; TAIPAN_CONFIG_FILE, the older one, still works."""
    data_dir = tmp_path / "data"
    config = tmp_path / "taipan.toml"
    config.write_text(f'data_dir = "{data_dir}"\nindex_max_age = 7\n')
    # The env names the file; the port and database come from the env too (env beats file).
    with (
        database_url(data_dir) as url,
        running_server(tmp_path / "unused", url, {variable: str(config), "TAIPAN_DATA_DIR": None}) as srv,
    ):
        assert (data_dir / "admin-token").exists()
        token = (data_dir / "admin-token").read_text().strip()
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as http:
            assert http.post("/api/v1/channels", json={"name": "cfg"}).status_code == 201
            response = http.get("/cfg/noarch/repodata.json")
        assert response.headers["cache-control"] == "public, max-age=7"


def toml(path: Path, max_age: int) -> Path:
    path.write_text(f"index_max_age = {max_age}\n")
    return path


def test_the_config_variables_and_the_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = toml(tmp_path / "a.toml", 11), toml(tmp_path / "b.toml", 22)
    for name in ("TAIPAN_CONFIG", "TAIPAN_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAIPAN_CONFIG", str(first))
    assert Settings().index_max_age == 11
    assert Settings().config_file == first
    assert Settings(config_file=second).index_max_age == 22  # --config beats the environment
    monkeypatch.setenv("TAIPAN_CONFIG_FILE", str(first))  # both, naming one file: fine
    assert Settings().index_max_age == 11
    monkeypatch.setenv("TAIPAN_CONFIG_FILE", str(second))
    with pytest.raises(ValueError, match="TAIPAN_CONFIG and TAIPAN_CONFIG_FILE name different files"):
        Settings()
    assert Settings(config_file=second).index_max_age == 22
