"""``taipan connect`` / ``taipan disconnect`` on a throw-away home folder, against a running server:
what each client's files say in between (py-rattler installs from a private channel with them),
and that disconnect leaves the home folder as it was, byte for byte."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, cli, packages, rattler_client
from tests.support.accounts import bearer
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw

# On the SQLite pass only (what connect writes into a home folder; the server side is only keys and reads).
pytestmark = pytest.mark.backend_independent

CONDARC = b"""# my conda settings
channels:
  - conda-forge   # community builds
  - defaults
default_channels:
  - https://repo.example.com/main
show_channel_urls: true
"""
OTHER_CREDENTIALS = b'{"other.example.com":{"BearerToken":"abc"}}'


def taipan(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.taipan(*args, env={"HOME": str(home), "TAIPAN_TOKEN": None})


def snapshot(home: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``home`` (folders as None)."""
    return {str(p.relative_to(home)): (p.read_bytes() if p.is_file() else None) for p in sorted(home.rglob("*"))}


@pytest.fixture
def private_channel(server: Server, pkgdir: Path) -> tuple[str, str]:
    """(channel, key of its owner): a private channel holding sec-app, which needs sec-lib."""
    owner = accounts.new_user(server, "con")
    key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, key, private=True)
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        for spec in (Spec("sec-lib", subdir="linux-64"), Spec("sec-app", depends=["sec-lib"])):
            assert upload_raw(http, channel, packages.build(spec, pkgdir)).status_code == 200
    return channel, key


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_connect_install_disconnect(
    server: Server, private_channel: tuple[str, str], home: Path, tmp_path: Path
) -> None:
    channel, key = private_channel
    (home / ".condarc").write_bytes(CONDARC)
    (home / ".rattler").mkdir()
    (home / ".rattler" / "credentials.json").write_bytes(OTHER_CREDENTIALS)
    before = snapshot(home)

    done = taipan(home, "connect", server.url, "--token", key, "--channel", channel)
    assert done.returncode == 0, done.stderr
    assert key not in done.stdout

    rattler = json.loads((home / ".rattler" / "credentials.json").read_bytes())
    assert rattler == {"127.0.0.1": {"BearerToken": key}, "other.example.com": {"BearerToken": "abc"}}
    assert "\n" not in (home / ".rattler" / "credentials.json").read_text()  # compact, one line
    mamba_file = home / ".mamba" / "auth" / "authentication.json"
    port = server.url.rsplit(":", 1)[1]
    assert json.loads(mamba_file.read_bytes()) == {f"127.0.0.1:{port}": {"type": "BearerToken", "token": key}}
    assert '\n    "127.0.0.1' in mamba_file.read_text()  # mamba's 4-space indent
    assert mamba_file.stat().st_mode & 0o077 == 0
    condarc = (home / ".condarc").read_text()
    assert condarc.startswith("# my conda settings\n")
    assert f"  - {server.url}/t/{key}/{channel}\n  - conda-forge   # community builds\n  - defaults\n" in condarc
    assert "default_channels:" in condarc
    assert "show_channel_urls: true" in condarc

    result = rattler_client.solve(
        [f"{server.url}/{channel}"],
        ["sec-app"],
        tmp_path / "cache",
        prefix=tmp_path / "env",
        home=home,
        default_auth=True,
    )
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["sec-app", "sec-lib"]

    done = taipan(home, "disconnect")
    assert done.returncode == 0, done.stderr
    assert snapshot(home) == before


def test_no_condarc_before_means_none_after(server: Server, private_channel: tuple[str, str], home: Path) -> None:
    channel, key = private_channel
    done = taipan(home, "connect", server.url, "--token", key, "-c", channel, "--remove-default-channels")
    assert done.returncode == 0, done.stderr
    assert (home / ".condarc").read_text() == f"channels:\n  - {server.url}/t/{key}/{channel}\n"
    assert taipan(home, "disconnect").returncode == 0
    assert snapshot(home) == {}


def test_remove_default_channels(server: Server, private_channel: tuple[str, str], home: Path) -> None:
    channel, key = private_channel
    (home / ".condarc").write_bytes(CONDARC)
    done = taipan(home, "connect", server.url, "--token", key, "-c", channel, "--remove-default-channels")
    assert done.returncode == 0, done.stderr
    condarc = (home / ".condarc").read_text()
    assert "default_channels" not in condarc
    assert "- defaults" not in condarc
    assert f"  - {server.url}/t/{key}/{channel}\n  - conda-forge" in condarc
    assert taipan(home, "disconnect").returncode == 0
    assert (home / ".condarc").read_bytes() == CONDARC


def test_dry_run_shows_every_change_and_writes_nothing(
    server: Server, private_channel: tuple[str, str], home: Path
) -> None:
    channel, key = private_channel
    (home / ".condarc").write_bytes(CONDARC)
    before = snapshot(home)
    done = taipan(home, "connect", server.url, "--token", key, "-c", channel, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert snapshot(home) == before
    for shown in (
        "would change ~/.condarc",
        "would create ~/.rattler/credentials.json",
        "would create ~/.mamba/auth/authentication.json",
        "would create ~/.taipan/connect.json",
        "would create ~/.taipan/condarc.backup",
        f"+  - {server.url}/t/{key[:7]}…{key[-4:]}/{channel}",
    ):
        assert shown in done.stdout, done.stdout
    assert key not in done.stdout

    assert taipan(home, "connect", server.url, "--token", key, "-c", channel).returncode == 0
    connected = snapshot(home)
    done = taipan(home, "disconnect", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would change ~/.condarc: restored as it was" in done.stdout
    assert "would remove ~/.mamba/auth/authentication.json" in done.stdout
    # The key is masked in the diff exactly as connect --dry-run masks it.
    assert f"-  - {server.url}/t/{key[:7]}…{key[-4:]}/{channel}" in done.stdout, done.stdout
    assert key not in done.stdout
    assert snapshot(home) == connected


def test_refusals(server: Server, private_channel: tuple[str, str], home: Path) -> None:
    channel, key = private_channel
    bad = taipan(home, "connect", server.url, "--token", "taipan-" + "0" * 40, "-c", channel)
    assert bad.returncode != 0
    assert "401" in bad.stderr
    assert snapshot(home) == {}
    assert "Not connected" in taipan(home, "disconnect").stdout
    assert taipan(home, "connect", server.url, "--token", key, "-c", channel).returncode == 0
    twice = taipan(home, "connect", server.url, "--token", key, "-c", channel)
    assert twice.returncode != 0
    assert "taipan disconnect" in twice.stderr


def test_condarc_edited_while_connected_is_kept_aside(
    server: Server, private_channel: tuple[str, str], home: Path
) -> None:
    channel, key = private_channel
    (home / ".condarc").write_bytes(CONDARC)
    assert taipan(home, "connect", server.url, "--token", key, "-c", channel).returncode == 0
    edited = (home / ".condarc").read_bytes() + b"always_yes: true\n"
    (home / ".condarc").write_bytes(edited)
    done = taipan(home, "disconnect")
    assert done.returncode == 0, done.stderr
    assert "changed since connect" in done.stderr
    assert (home / ".condarc").read_bytes() == CONDARC
    assert (home / ".taipan" / "condarc.replaced").read_bytes() == edited


def test_default_channels_are_the_ones_the_key_reads(
    server: Server, private_channel: tuple[str, str], home: Path
) -> None:
    channel, key = private_channel
    done = taipan(home, "connect", server.url, "--token", key, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"/{channel}\n" in done.stdout


def test_symlinked_condarc_stays_a_symlink(server: Server, private_channel: tuple[str, str], home: Path) -> None:
    channel, key = private_channel
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "condarc").write_bytes(CONDARC)
    (home / ".condarc").symlink_to(dotfiles / "condarc")
    assert taipan(home, "connect", server.url, "--token", key, "-c", channel).returncode == 0
    assert (home / ".condarc").is_symlink()
    assert f"/t/{key}/{channel}" in (dotfiles / "condarc").read_text()
    assert taipan(home, "disconnect").returncode == 0
    assert (home / ".condarc").is_symlink()
    assert (dotfiles / "condarc").read_bytes() == CONDARC


def test_unknown_channel_is_refused_before_anything_is_written(
    server: Server, private_channel: tuple[str, str], home: Path
) -> None:
    _, key = private_channel
    done = taipan(home, "connect", server.url, "--token", key, "-c", "no-such-channel")
    assert done.returncode != 0
    assert "404" in done.stderr
    assert snapshot(home) == {}
