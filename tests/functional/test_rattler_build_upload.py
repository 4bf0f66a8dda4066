"""rattler-build's own upload code (py-rattler-build), unmodified, against every dialect it speaks.

Each upload runs ``rattler_build.upload_package_to_*`` in a subprocess (a Rust extension,
like py-rattler: it leaves with os._exit) with its own HOME, so the credential comes only
from what the test gives it: an argument, or an auth file (``auth_file=`` or the default
``~/.rattler/credentials.json``). What was uploaded is then checked as clients see it: the
repodata entry and the bytes over plain HTTP, and an install with py-rattler.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import accounts, packages, rattler_client
from tests.support.packages import Spec
from tests.support.server import Server

SCRIPT = r"""
import json, os, sys
import rattler_build

args = json.loads(sys.argv[1])
try:
    getattr(rattler_build, args["function"])(*args["args"], **args["kwargs"])
    result = {"ok": True}
except Exception as exc:
    result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
sys.stdout.write(json.dumps(result) + "\n")
sys.stdout.flush()
os._exit(0)
"""


@dataclass
class Publisher:
    """A user with a key, the owner of a public channel; and someone who may only read it."""

    user: str
    key: str
    channel: str
    viewer_key: str


@pytest.fixture
def publisher(server: Server) -> Publisher:
    user = accounts.new_user(server, "rb")
    key = accounts.new_key(server, user)
    channel = accounts.new_channel(server, key, private=False, prefix="rb")
    viewer = accounts.new_user(server, "rbview")
    accounts.add_member(server, key, channel, viewer, "viewer")
    return Publisher(user, key, channel, accounts.new_key(server, viewer))


def upload(function: str, files: list[Path], *args: Any, home: Path, **kwargs: Any) -> dict[str, Any]:
    """Call ``rattler_build.<function>(files, *args, **kwargs)``; ``{"ok": True}`` or the error it raised."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATTLER_", "PREFIX_", "ANACONDA_", "QUETZ_"))}
    env["HOME"] = str(home)
    call = {"function": function, "args": [[str(f) for f in files], *args], "kwargs": kwargs}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(call, default=str)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.stdout.strip(), done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def auth_file(path: Path, server: Server, credential: dict[str, Any]) -> Path:
    """rattler's credentials.json, keyed by the server's host name (rattler matches hosts without the port)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({urlsplit(server.url).hostname: credential}))
    return path


def served(server: Server, channel: str, path: Path) -> dict[str, Any]:
    """The file's repodata record, after checking the bytes are served as uploaded."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        found = {}
        for sub in ("noarch", "linux-64"):
            repodata = http.get(f"/{channel}/{sub}/repodata.json").json()
            found.update(
                {
                    name: (sub, r)
                    for name, r in {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}.items()
                }
            )
        assert path.name in found, f"{path.name} is not in {channel}'s repodata"
        sub, record = found[path.name]
        data = path.read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert http.get(f"/{channel}/{sub}/{path.name}").content == data
    return dict(record)


def not_served(server: Server, channel: str, name: str) -> bool:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        repodata = http.get(f"/{channel}/noarch/repodata.json").json()
        return name not in repodata.get("packages.conda", {}) and name not in repodata.get("packages", {})


def installs(server: Server, channel: str, spec: str, tmp_path: Path) -> None:
    result = rattler_client.solve([f"{server.url}/{channel}"], [spec], tmp_path / "cache", prefix=tmp_path / "env")
    assert result["ok"], result
    assert spec in {r["name"] for r in result["records"]}


# prefix.dev: api_key, an auth file (given, or the default one), skip_existing, force.


def test_prefix_with_every_credential_then_install(
    server: Server, publisher: Publisher, pkgdir: Path, tmp_path: Path
) -> None:
    lib = packages.build(Spec("rbp-lib", subdir="linux-64"), pkgdir)
    app = packages.build(Spec("rbp-app", depends=["rbp-lib"]), pkgdir)
    old = packages.build(Spec("rbp-old", fmt=".tar.bz2"), pkgdir)
    home = tmp_path / "home"
    bearer = {"BearerToken": publisher.key}
    given = auth_file(tmp_path / "auth.json", server, bearer)
    auth_file(home / ".rattler" / "credentials.json", server, bearer)
    channel = publisher.channel
    assert upload("upload_package_to_prefix", [lib], server.url, channel, api_key=publisher.key, home=home)["ok"]
    assert upload("upload_package_to_prefix", [app], server.url, channel, auth_file=given, home=tmp_path / "h2")["ok"]
    assert upload("upload_package_to_prefix", [old], server.url, channel, home=home)["ok"]  # the default auth file
    for path in (lib, app, old):
        served(server, channel, path)
    installs(server, channel, "rbp-app", tmp_path)


def test_prefix_refusals_skip_existing_and_force(
    server: Server, publisher: Publisher, pkgdir: Path, tmp_path: Path
) -> None:
    path = packages.build(Spec("rbp-again"), pkgdir)
    home, channel, key = tmp_path / "home", publisher.channel, publisher.key
    # (Told apart by the answer expected, not by the key's last letter: a real key may end in "x".)
    for bad, answer in (("taipan-" + "x" * 40, "HTTP 401"), (publisher.viewer_key, "HTTP 403")):
        refused = upload("upload_package_to_prefix", [path], server.url, channel, api_key=bad, home=home)
        assert not refused["ok"]
        assert answer in refused["error"], refused
    assert not_served(server, channel, path.name)
    no_key = upload("upload_package_to_prefix", [path], server.url, channel, home=home)
    assert not no_key["ok"]
    assert upload("upload_package_to_prefix", [path], server.url, channel, api_key=key, home=home)["ok"]
    first = served(server, channel, path)

    again = upload("upload_package_to_prefix", [path], server.url, channel, api_key=key, home=home)
    assert not again["ok"]
    assert "already exists (HTTP 409)" in again["error"], again
    skipped = upload(
        "upload_package_to_prefix", [path], server.url, channel, api_key=key, skip_existing=True, home=home
    )
    assert skipped["ok"], skipped
    rebuilt = packages.build(Spec("rbp-again", about={"summary": "rebuilt"}), tmp_path / "rebuilt")
    assert rebuilt.read_bytes() != path.read_bytes()
    kept = upload(
        "upload_package_to_prefix", [rebuilt], server.url, channel, api_key=key, skip_existing=True, home=home
    )
    assert kept["ok"], kept
    assert served(server, channel, path) == first  # skipped: the first bytes stay
    forced = upload("upload_package_to_prefix", [rebuilt], server.url, channel, api_key=key, force=True, home=home)
    assert forced["ok"], forced
    assert served(server, channel, rebuilt)["sha256"] != first["sha256"]


# Quetz: api_key or an auth file with a CondaToken (rattler refuses a BearerToken for quetz).


def test_quetz_with_every_credential_and_refusals(
    server: Server, publisher: Publisher, pkgdir: Path, tmp_path: Path
) -> None:
    first = packages.build(Spec("rbq-one", subdir="linux-64"), pkgdir)
    second = packages.build(Spec("rbq-two", depends=["rbq-one"]), pkgdir)
    home, channel = tmp_path / "home", publisher.channel
    given = auth_file(tmp_path / "auth.json", server, {"CondaToken": publisher.key})
    assert upload("upload_package_to_quetz", [first], server.url, channel, api_key=publisher.key, home=home)["ok"]
    assert upload("upload_package_to_quetz", [second], server.url, channel, auth_file=given, home=home)["ok"]
    served(server, channel, first)
    served(server, channel, second)
    installs(server, channel, "rbq-two", tmp_path)

    third = packages.build(Spec("rbq-three"), pkgdir)
    for bad in ("taipan-" + "x" * 40, publisher.viewer_key):
        refused = upload("upload_package_to_quetz", [third], server.url, channel, api_key=bad, home=home)
        assert not refused["ok"], refused
    assert not_served(server, channel, third.name)
    # rattler's quetz upload has no force or skip-existing: the same name again is refused, unchanged.
    rebuilt = packages.build(Spec("rbq-two", depends=["rbq-one"], about={"summary": "rebuilt"}), tmp_path / "re")
    again = upload("upload_package_to_quetz", [rebuilt], server.url, channel, api_key=publisher.key, home=home)
    assert not again["ok"], again
    served(server, channel, second)


# Artifactory: token, or an auth file with a BearerToken or BasicHTTP (user and password, or user and key).


def test_artifactory_with_every_credential_and_refusals(
    server: Server, publisher: Publisher, pkgdir: Path, tmp_path: Path
) -> None:
    home, channel = tmp_path / "home", publisher.channel
    credentials: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
        "token": ({"token": publisher.key}, None),
        "bearer file": ({}, {"BearerToken": publisher.key}),
        "password file": ({}, {"BasicHTTP": {"username": publisher.user, "password": accounts.PASSWORD}}),
        "key as password": ({}, {"BasicHTTP": {"username": "anyone", "password": publisher.key}}),
    }
    for n, (kwargs, stored) in enumerate(credentials.values()):
        path = packages.build(Spec(f"rba-{n}", subdir="linux-64" if n % 2 else "noarch"), pkgdir)
        if stored is not None:
            kwargs = {"auth_file": auth_file(tmp_path / f"auth{n}.json", server, stored)}
        done = upload("upload_package_to_artifactory", [path], server.url, channel, home=home, **kwargs)
        assert done["ok"], (n, done)
        served(server, channel, path)

    path = packages.build(Spec("rba-refused"), pkgdir)
    wrong_password = {"BasicHTTP": {"username": publisher.user, "password": "wrong password"}}
    refusals: list[dict[str, Any]] = [
        {"token": "taipan-" + "x" * 40},
        {"token": publisher.viewer_key},
        {"auth_file": auth_file(tmp_path / "wrong.json", server, wrong_password)},
        {},
    ]
    for kwargs in refusals:
        refused = upload("upload_package_to_artifactory", [path], server.url, channel, home=home, **kwargs)
        assert not refused["ok"], (kwargs, refused)
    assert not_served(server, channel, path.name)
    # Artifactory's way: the very same bytes again succeed and change nothing; other bytes are refused.
    same = packages.build(Spec("rba-0"), tmp_path / "same")
    existing = (pkgdir / same.name).read_bytes()
    if same.read_bytes() != existing:
        refused = upload("upload_package_to_artifactory", [same], server.url, channel, token=publisher.key, home=home)
        assert not refused["ok"], refused
    again = upload(
        "upload_package_to_artifactory", [pkgdir / same.name], server.url, channel, token=publisher.key, home=home
    )
    assert again["ok"], again
    served(server, channel, pkgdir / same.name)


# anaconda.org: api_key or an auth file (given, or the default one) with a CondaToken (rattler refuses
# other kinds for anaconda), labels, force.


def test_anaconda_with_every_credential_labels_and_force(
    server: Server, publisher: Publisher, pkgdir: Path, tmp_path: Path
) -> None:
    api, owner, home = f"{server.url}/api", publisher.user, tmp_path / "home"
    one = packages.build(Spec("rbc-one", subdir="linux-64"), pkgdir)
    two = packages.build(Spec("rbc-two", depends=["rbc-one"]), pkgdir)
    three = packages.build(Spec("rbc-three"), pkgdir)
    conda_token = auth_file(tmp_path / "conda.json", server, {"CondaToken": publisher.key})
    auth_file(home / ".rattler" / "credentials.json", server, {"CondaToken": publisher.key})
    assert upload("upload_package_to_anaconda", [one], owner, api_key=publisher.key, url=api, home=home)["ok"]
    assert upload("upload_package_to_anaconda", [two], owner, auth_file=conda_token, url=api, home=home)["ok"]
    labelled = upload("upload_package_to_anaconda", [three], owner, channel=["dev"], url=api, home=home)
    assert labelled["ok"], labelled
    # The owner's channel is named after the user; "main" is the channel itself, other labels are label/<name>.
    served(server, owner, one)
    served(server, owner, two)
    installs(server, owner, "rbc-two", tmp_path)
    assert not_served(server, owner, three.name)
    served(server, f"{owner}/label/dev", three)

    for bad in ("taipan-" + "x" * 40, publisher.viewer_key):
        refused = upload("upload_package_to_anaconda", [one], owner, api_key=bad, url=api, home=home)
        assert not refused["ok"], refused
    rebuilt = packages.build(Spec("rbc-one", subdir="linux-64", about={"summary": "rebuilt"}), tmp_path / "re")
    again = upload("upload_package_to_anaconda", [rebuilt], owner, api_key=publisher.key, url=api, home=home)
    assert not again["ok"], again
    assert served(server, owner, one)["sha256"] == hashlib.sha256(one.read_bytes()).hexdigest()
    forced = upload(
        "upload_package_to_anaconda", [rebuilt], owner, api_key=publisher.key, url=api, force=True, home=home
    )
    assert forced["ok"], forced
    served(server, owner, rebuilt)
