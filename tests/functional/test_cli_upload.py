"""``taipan upload`` against a running server, as a user runs it (a subprocess without a TTY)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import packages
from tests.support.packages import Spec
from tests.support.server import Server

SPECS = [
    Spec("up-lib", "1.0", "h0_0", subdir="linux-64", fmt=".tar.bz2"),
    Spec("up-tool", "2.1", "h0_0", subdir="linux-64", depends=["up-lib"]),
    Spec("up-data", "0.3", "pyh0_0"),
]


def upload(server: Server, *args: str, env_token: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the admin token in TAIPAN_TOKEN (or none), and no data folder to fall back on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIPAN_")}
    if env_token:
        env["TAIPAN_TOKEN"] = server.token
    return subprocess.run(
        [sys.executable, "-m", "taipan", "upload", "--server", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def build_all(pkgdir: Path) -> list[Path]:
    return [packages.build(spec, pkgdir) for spec in SPECS]


def test_upload_streams_each_file_and_summarises(server: Server, channel: str, pkgdir: Path) -> None:
    paths = build_all(pkgdir)
    result = upload(server, "--channel", channel, *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in paths:
        assert f"uploaded {path.name}" in result.stdout
    assert "Summary: 3 uploaded, 0 failed" in result.stdout
    assert "\x1b[" not in result.stdout  # no TTY: plain lines, no bars or colours
    with server.client() as http:
        for spec, path in zip(SPECS, paths, strict=True):
            repodata = http.get(f"/{channel}/{spec.subdir}/repodata.json").json()
            key = "packages.conda" if spec.fmt == ".conda" else "packages"
            assert repodata[key][path.name]["sha256"] == packages.sha256_of(path)
            assert http.get(f"/{channel}/{spec.subdir}/{path.name}").content == path.read_bytes()


def test_existing_file_fails_with_a_hint_unless_told(server: Server, channel: str, pkgdir: Path) -> None:
    paths = build_all(pkgdir)
    assert upload(server, "-c", channel, str(paths[0])).returncode == 0

    again = upload(server, "-c", channel, *map(str, paths))
    assert again.returncode == 1
    assert f"failed   {paths[0].name}: 409: " in again.stdout
    assert "already exists" in again.stdout
    assert "pass --force to replace it, or --skip-existing to skip it" in again.stdout
    assert "Summary: 2 uploaded, 1 failed" in again.stdout

    skipped = upload(server, "-c", channel, "--skip-existing", *map(str, paths))
    assert skipped.returncode == 0, skipped.stdout
    assert "Summary: 0 uploaded, 3 skipped, 0 failed" in skipped.stdout
    assert f"skipped  {paths[1].name}" in skipped.stdout

    forced = upload(server, "-c", channel, "--force", str(paths[2]))
    assert forced.returncode == 0, forced.stdout
    assert f"replaced {paths[2].name}" in forced.stdout
    assert "Summary: 0 uploaded, 1 replaced, 0 failed" in forced.stdout


def test_force_and_skip_existing_exclude_each_other(server: Server, channel: str, pkgdir: Path) -> None:
    result = upload(server, "-c", channel, "--force", "--skip-existing", str(build_all(pkgdir)[0]))
    assert result.returncode == 2
    assert "exclude each other" in result.stderr


def test_bad_token_says_how_to_authenticate_and_stops(server: Server, channel: str, pkgdir: Path) -> None:
    paths = build_all(pkgdir)
    result = upload(server, "-c", channel, "--token", "taipan-not-a-real-key", *map(str, paths), env_token=False)
    assert result.returncode == 1
    assert "401: " in result.stdout
    assert "TAIPAN_TOKEN" in result.stdout
    assert "2 file(s) not attempted" in result.stdout
    with server.client() as http:
        assert http.get(f"/{channel}/linux-64/repodata.json").status_code == 404  # nothing arrived


def test_server_message_for_an_invalid_file_and_the_rest_still_uploads(
    server: Server, channel: str, pkgdir: Path
) -> None:
    good = packages.build(Spec("up-good", "1.0", "0"), pkgdir)
    bad = pkgdir / "up-bad-1.0-0.conda"
    bad.write_bytes(b"this is not a zip archive")
    result = upload(server, "-c", channel, str(bad), str(good))
    assert result.returncode == 1
    assert f"failed   {bad.name}: 422: " in result.stdout
    assert "corrupt" in result.stdout
    assert f"uploaded {good.name}" in result.stdout


def test_help_teaches_with_examples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taipan", "upload", "--help"], capture_output=True, text=True, check=True
    )
    for words in ("Examples:", "taipan upload --channel", "--skip-existing", "--force", "TAIPAN_TOKEN"):
        assert words in result.stdout
