"""Configuration by TOML file and TAIPAN_* environment variables."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import database_url, running_server


def test_toml_config_file_and_env(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "taipan.toml"
    config.write_text(f'data_dir = "{data_dir}"\nindex_max_age = 7\n')
    # The env names the file; the port and database come from the env too (env beats file).
    with (
        database_url(data_dir) as url,
        running_server(tmp_path / "unused", url, {"TAIPAN_CONFIG_FILE": str(config), "TAIPAN_DATA_DIR": None}) as srv,
    ):
        assert (data_dir / "admin-token").exists()
        token = (data_dir / "admin-token").read_text().strip()
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as http:
            assert http.post("/api/v1/channels", json={"name": "cfg"}).status_code == 201
            response = http.get("/cfg/noarch/repodata.json")
        assert response.headers["cache-control"] == "public, max-age=7"
