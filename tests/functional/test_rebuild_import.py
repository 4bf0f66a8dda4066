"""``taipan index rebuild`` and ``taipan import``: bulk work on a server's data folder, judged over HTTP."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.support import packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server, database_url, running_server, storage_env, storage_of
from tests.support.upload import upload_multipart, upload_raw

SUBDIRS = ("noarch", "linux-64", "osx-arm64")
INDEX_FILES = ("repodata.json", "repodata_shards.msgpack.zst")


def taipan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taipan", *args], capture_output=True, text=True, env=env, timeout=600)


def local_env(data_dir: Path, db_url: str) -> dict[str, str]:
    return {**os.environ, "TAIPAN_DATA_DIR": str(data_dir), "TAIPAN_DATABASE_URL": db_url, **storage_env(data_dir)}


def index_files(server: Server, channel: str) -> dict[str, bytes]:
    files = {}
    with server.client() as http:
        for subdir in SUBDIRS:
            for kind in INDEX_FILES:
                response = http.get(f"/{channel}/{subdir}/{kind}")
                assert response.status_code == 200, (subdir, kind, response.text)
                files[f"{subdir}/{kind}"] = response.content
    return files


# --- rebuild -------------------------------------------------------------------------

REBUILD_SPECS = [
    Spec("rb-lib", "1.0", "h1_0", subdir="linux-64", fmt=".tar.bz2", run_exports={"weak": ["rb-lib >=1.0"]}),
    Spec("rb-lib", "1.1", "h1_0", subdir="linux-64", run_exports={"weak": ["rb-lib >=1.1"]}),
    Spec("rb-tool", "2.0", "h2_0", subdir="linux-64", depends=["rb-lib >=1.0"]),
    Spec("rb-tool", "2.0", "h2_0", subdir="osx-arm64", fmt=".tar.bz2"),
    Spec("rb-data", "0.1", "pyh_0", depends=["rb-tool"]),
    Spec("rb-data", "0.2", "pyh_0", fmt=".tar.bz2", depends=["rb-tool"]),
]


def publish(server: Server, channel: str, pkgdir: Path) -> None:
    with server.client() as http:
        assert http.post("/api/v1/channels", json={"name": channel}).status_code == 201
        for i, spec in enumerate([*REBUILD_SPECS, Spec("rb-gone", "1.0", "0")]):
            send = upload_multipart if i % 2 else upload_raw
            response = send(http, channel, packages.build(spec, pkgdir))
            assert response.status_code == 200, response.text
        assert http.delete(f"/api/v1/delete/{channel}/noarch/rb-gone-1.0-0.conda").status_code == 200
        # Replaced once: its bytes now lie at a .versions/ key, which a rebuild must find too.
        replaced = pkgdir / REBUILD_SPECS[1].filename
        assert upload_raw(http, channel, replaced, force=True).status_code == 200


def test_rebuild_from_storage_alone_gives_the_same_index(server_factory, pkgdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    channel = f"rebuilt-{uuid.uuid4().hex[:6]}"
    with server_factory() as old:
        publish(old, channel, pkgdir)
        before = index_files(old, channel)
        data_dir: Path = old.data_dir
    # The database is gone; the packages are not. One stray file lies among them.
    storage = storage_of(data_dir)
    junk = f"{channel}/linux-64/rb-junk-1.0-0.conda"
    writer = storage.writer(junk)
    writer.write(b"not a package")
    writer.close()
    (tmp_path / "new-db").mkdir()
    with database_url(tmp_path / "new-db") as db_url:
        env = local_env(data_dir, db_url)
        result = taipan(env, "index", "rebuild")
        assert result.returncode == 1, result.stdout + result.stderr  # the junk file is reported
        assert f"created channel {channel} (private" in result.stdout
        assert f"skipped {channel}/linux-64/rb-junk-1.0-0.conda: " in result.stdout
        assert "6 package(s) recorded, 0 record(s) removed, 1 problem(s)" in result.stdout
        assert storage.stat(junk) is not None

        with running_server(data_dir, db_url) as new:
            assert index_files(new, channel) == before
            with httpx.Client(base_url=new.url) as anon:  # visibility went with the database
                assert anon.get(f"/{channel}/noarch/repodata.json").status_code == 401

            # A crash mid-replace left other bytes of a file at a key no record points at,
            # newer than the recorded ones: a rebuild keeps what the record points at.
            other = Spec("rb-tool", "2.0", "h2_0", subdir="linux-64", files={"bin/other": b"other bytes"})
            leftover = f"{channel}/linux-64/.versions/{uuid.uuid4().hex}/{other.filename}"
            writer = storage.writer(leftover)
            writer.write(packages.build(other, tmp_path / "other").read_bytes())
            writer.close()
            # A file lost from storage: a rebuild while the server runs drops its record.
            storage.delete(f"{channel}/noarch/rb-data-0.2-pyh_0.tar.bz2")
            storage.delete(junk)
            result = taipan(env, "index", "rebuild", channel)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"removed record {channel}/noarch/rb-data-0.2-pyh_0.tar.bz2" in result.stdout
            assert "5 package(s) recorded, 1 record(s) removed, 0 problem(s)" in result.stdout
            after = index_files(new, channel)
            assert after["linux-64/repodata.json"] == before["linux-64/repodata.json"]
            assert storage.stat(leftover) is None, "the superseded object was not collected"
            assert b"rb-data-0.2" not in after["noarch/repodata.json"]

            with new.client() as http:
                assert http.patch(f"/api/v1/channels/{channel}", json={"private": False}).status_code == 200
            solved = rattler_client.solve([f"{new.url}/{channel}"], ["rb-data"], tmp_path / "cache")
            assert solved["ok"], solved
            assert {(r["name"], r["version"]) for r in solved["records"]} == {
                ("rb-data", "0.1"),
                ("rb-tool", "2.0"),
                ("rb-lib", "1.1"),
            }


# --- import --------------------------------------------------------------------------


def channel_tree(root: Path) -> list[Spec]:
    """About 30 packages in a conda channel's layout, both formats, three subdirs; two too large
    to be checked from memory (they are staged: bulk/importing.py's HELD_MAX)."""
    big = {"share/blob.bin": os.urandom(200_000)}  # random bytes: the archive stays ~200 KB
    specs = [
        Spec("im-base", f"1.{i}", "pyh_0", fmt=".conda" if i % 2 else ".tar.bz2", files=big if i == 5 else {})
        for i in range(6)
    ]
    for subdir in ("linux-64", "osx-arm64"):
        specs += [
            Spec(
                "im-lib", f"2.{i}", "h0_0", subdir=subdir, depends=["im-base >=1.2"], fmt=(".conda", ".tar.bz2")[i % 2]
            )
            for i in range(8)
        ]
        specs += [
            Spec("im-app", f"3.{i}", "h0_0", subdir=subdir, depends=["im-lib 2.*"], files=big if i == 3 else {})
            for i in range(4)
        ]
    for spec in specs:
        packages.build(spec, root / spec.subdir)
    return specs


def test_import_a_channel_folder_then_again(server: Server, tmp_path: Path) -> None:
    tree = tmp_path / "mirror"
    specs = channel_tree(tree)
    assert len(specs) == 30
    (tree / "linux-64" / "im-broken-1.0-0.conda").write_bytes(b"PK\x03\x04 truncated")
    packages.build(Spec("im-lost", "1.0", "0"), tree / "linux-64")  # a noarch package in linux-64/
    (tree / ".cache").mkdir()
    (tree / ".cache" / "ignored-1.0-0.conda").write_bytes(b"hidden folders are not looked at")
    channel = f"imported-{uuid.uuid4().hex[:6]}"
    env = server.env()

    missing = taipan(env, "import", str(tree), "--channel", channel)
    assert missing.returncode == 1
    assert "--create" in missing.stderr

    first = taipan(env, "import", str(tree), "--channel", channel, "--create")
    assert first.returncode == 1, first.stdout + first.stderr  # two files refused
    assert f"created channel {channel} (public, no owner)" in first.stdout
    assert "linux-64/im-broken-1.0-0.conda: the archive is corrupt" in first.stdout
    assert "im-lost-1.0-0.conda: im-lost-1.0-0.conda is built for 'noarch', not 'linux-64'" in first.stdout
    assert "ignored" not in first.stdout
    assert "Imported 30, replaced 0, skipped 0" in first.stdout
    assert "refused 2 of 32 file(s)" in first.stdout

    with server.client() as http:
        repodata = http.get(f"/{channel}/linux-64/repodata.json").json()
    lib = tree / "linux-64" / "im-lib-2.1-h0_0.tar.bz2"
    assert repodata["packages"][lib.name]["sha256"] == packages.sha256_of(lib)
    app = tree / "linux-64" / "im-app-3.3-h0_0.conda"  # a staged one
    assert app.stat().st_size > 128 * 1024
    assert repodata["packages.conda"][app.name]["sha256"] == packages.sha256_of(app)
    assert len(repodata["packages"]) + len(repodata["packages.conda"]) == 12
    solved = rattler_client.solve([f"{server.url}/{channel}"], ["im-app"], tmp_path / "cache")
    assert solved["ok"], solved
    assert {(r["name"], r["version"]) for r in solved["records"]} == {
        ("im-app", "3.3"),
        ("im-lib", "2.7"),
        ("im-base", "1.5"),
    }

    again = taipan(env, "import", str(tree), "--channel", channel)
    assert "Imported 0, replaced 0, skipped 30" in again.stdout, again.stdout + again.stderr

    forced = taipan(env, "import", str(tree / "noarch"), "--channel", channel, "--force", "--jobs", "1")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "Imported 0, replaced 6, skipped 0" in forced.stdout
    with server.client() as http:
        for spec in specs:  # held or staged, new or replaced: the bytes served are the file's
            response = http.get(f"/{channel}/{spec.subdir}/{spec.filename}")
            assert response.status_code == 200
            assert hashlib.sha256(response.content).hexdigest() == packages.sha256_of(
                tree / spec.subdir / spec.filename
            )


def test_import_a_flat_folder_files_each_package_by_its_index(server: Server, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    specs = [
        Spec("fl-one", "1.0", "0"),
        Spec("fl-two", "1.0", "h0_0", subdir="linux-64", fmt=".tar.bz2"),
        Spec("fl-three", "1.0", "h0_0", subdir="win-64"),
    ]
    for spec in specs:
        packages.build(spec, flat)
    channel = f"flat-{uuid.uuid4().hex[:6]}"
    result = taipan(server.env(), "import", str(flat), "-c", channel, "--create", "--private")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Imported 3" in result.stdout
    with server.client() as http:
        for spec in specs:
            repodata = http.get(f"/{channel}/{spec.subdir}/repodata.json").json()
            assert spec.filename in repodata["packages"] | repodata["packages.conda"]
    with httpx.Client(base_url=server.url) as anon:
        assert anon.get(f"/{channel}/noarch/repodata.json").status_code == 401
