"""The Forgejo conda registry dialect, driven with curl as Forgejo's documentation shows:
``curl --user USER:TOKEN --upload-file FILE https://HOST/api/packages/{owner}/conda/{channel}/{file}``.
Then the reads a Forgejo ``.condarc`` makes (``channel_alias: https://HOST/api/packages/{owner}/conda``)."""

from __future__ import annotations

import bz2
import hashlib
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, packages, rattler_client
from tests.support.accounts import PASSWORD, basic
from tests.support.packages import Spec
from tests.support.server import Server


@dataclass
class Curl:
    status: int
    headers: str
    body: bytes


def curl(url: str, *args: str, tmp: Path) -> Curl:
    head, body = tmp / "curl-headers", tmp / "curl-body"
    proc = subprocess.run(
        ["curl", "-sS", "-D", str(head), "-o", str(body), "-w", "%{http_code}", *args, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Curl(int(proc.stdout), head.read_text(), body.read_bytes())


@pytest.fixture
def owner(server: Server) -> tuple[str, str]:
    """(user name, API key) of a Forgejo-style owner, who owns the channel of their own name."""
    name = accounts.new_user(server, "fj")
    key = accounts.new_key(server, name)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.post("/api/v1/channels", json={"name": name, "private": True}).status_code == 201
    return name, key


def test_curl_upload_401_201_409_then_repodata_matches(
    server: Server, owner: tuple[str, str], pkgdir: Path, tmp_path: Path
) -> None:
    user, key = owner
    path = packages.build(Spec("fj-pkg", "2.1", "h0_3", build_number=3, subdir="linux-64", depends=["zlib"]), pkgdir)
    url = f"{server.url}/api/packages/{user}/conda/{user}/{path.name}"
    anonymous = curl(url, "--upload-file", str(path), tmp=tmp_path)
    assert anonymous.status == 401
    assert "www-authenticate: " in anonymous.headers.lower()
    created = curl(url, "--user", f"{user}:{key}", "--upload-file", str(path), tmp=tmp_path)
    assert created.status == 201, created.body
    assert created.body == b""
    again = curl(url, "--user", f"{user}:{key}", "--upload-file", str(path), tmp=tmp_path)
    assert again.status == 409, again.body

    data = path.read_bytes()
    base = f"{server.url}/api/packages/{user}/conda/{user}/linux-64"
    repodata = curl(f"{base}/repodata.json", "--user", f"{user}:{key}", tmp=tmp_path)
    assert repodata.status == 200
    record = json.loads(repodata.body)["packages.conda"][path.name]
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - conda's own field
    assert record["size"] == len(data)
    assert (record["name"], record["version"], record["build"], record["build_number"]) == ("fj-pkg", "2.1", "h0_3", 3)
    assert (record["subdir"], record["depends"]) == ("linux-64", ["zlib"])
    # Forgejo serves current_repodata.json(.bz2) as a copy of repodata.json.
    current = curl(f"{base}/current_repodata.json", "--user", f"{user}:{key}", tmp=tmp_path)
    assert current.body == repodata.body
    packed = curl(f"{base}/current_repodata.json.bz2", "--user", f"{user}:{key}", tmp=tmp_path)
    assert bz2.decompress(packed.body) == repodata.body
    download = curl(f"{base}/{path.name}", "--user", f"{user}:{key}", tmp=tmp_path)
    assert download.body == data


def test_owner_root_is_the_owners_channel_and_serves_like_it(
    server: Server, owner: tuple[str, str], pkgdir: Path, tmp_path: Path
) -> None:
    user, key = owner
    path = packages.build(Spec("fj-root"), pkgdir)
    created = curl(
        f"{server.url}/api/packages/{user}/conda/{path.name}",
        "--user",
        f"{user}:{key}",
        "--upload-file",
        str(path),
        tmp=tmp_path,
    )
    assert created.status == 201, created.body
    with httpx.Client(base_url=server.url, headers=basic(user, key)) as http:
        for suffix in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst", path.name):
            plain = http.get(f"/{user}/noarch/{suffix}")
            forgejo = http.get(f"/api/packages/{user}/conda/noarch/{suffix}")
            assert forgejo.status_code == plain.status_code == 200, suffix
            assert forgejo.content == plain.content, suffix
        assert http.head(f"/api/packages/{user}/conda/noarch/repodata.json").status_code == 200


def test_refusals(server: Server, owner: tuple[str, str], pkgdir: Path, tmp_path: Path) -> None:
    user, key = owner
    good = packages.build(Spec("fj-good"), pkgdir)
    bad = tmp_path / "fj-bad-1.0-0.conda"
    bad.write_bytes(b"not a package")
    creds = ("--user", f"{user}:{key}")
    base = f"{server.url}/api/packages/{user}/conda"
    # An invalid package is Forgejo's 400 (Taipan's default would be 422).
    assert curl(f"{base}/{user}/{bad.name}", *creds, "--upload-file", str(bad), tmp=tmp_path).status == 400
    # Not a package file name: Forgejo's route does not match.
    assert curl(f"{base}/{user}/notes.txt", *creds, "--upload-file", str(good), tmp=tmp_path).status == 404
    # Forgejo channels may have several segments; Taipan's cannot: a 404 that says what to use.
    nested = curl(f"{base}/a/{user}/{good.name}", *creds, "--upload-file", str(good), tmp=tmp_path)
    assert nested.status == 404
    assert f"{user}/..." in json.loads(nested.body)["error"]
    # Forgejo answers 401 (not 403) to a known user without write access.
    viewer = accounts.new_user(server, "fjv")
    accounts.add_member(server, key, user, viewer, "viewer")
    denied = curl(
        f"{base}/{user}/{good.name}", "--user", f"{viewer}:{PASSWORD}", "--upload-file", str(good), tmp=tmp_path
    )
    assert denied.status == 401
    assert "www-authenticate: " in denied.headers.lower()


def test_forgejo_condarc_keeps_working_with_rattler(
    server: Server, owner: tuple[str, str], pkgdir: Path, tmp_path: Path
) -> None:
    """A private channel read through the Forgejo URL shape with Basic user:token, as conda users do."""
    user, key = owner
    for spec in (Spec("fj-lib", subdir="linux-64"), Spec("fj-app", depends=["fj-lib"])):
        path = packages.build(spec, pkgdir)
        url = f"{server.url}/api/packages/{user}/conda/{user}/{path.name}"
        assert curl(url, "--user", f"{user}:{key}", "--upload-file", str(path), tmp=tmp_path).status == 201
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"127.0.0.1": {"BasicHTTP": {"username": user, "password": key}}}))
    channel_url = f"{server.url}/api/packages/{user}/conda/{user}"
    for sharded in (True, False):
        result = rattler_client.solve(
            [channel_url],
            ["fj-app"],
            tmp_path / f"c{sharded}",
            prefix=tmp_path / f"env{sharded}",
            sharded=sharded,
            auth_file=auth_file,
        )
        assert result["ok"], result
        assert sorted(r["name"] for r in result["records"]) == ["fj-app", "fj-lib"]
        assert all(r["url"].startswith(channel_url + "/") for r in result["records"]), result


# --- {owner} and channels made on first upload -----------------------------------------------


def put(url: str, path: Path, headers: dict[str, str]) -> httpx.Response:
    return httpx.put(url, content=path.read_bytes(), headers=headers)


def test_first_upload_to_a_new_channel_of_your_own_makes_it(server: Server, pkgdir: Path) -> None:
    user = accounts.new_user(server, "fjn")
    key = accounts.new_key(server, user)
    channel = f"fjnew-{user[-8:]}"
    path = packages.build(Spec("fj-new"), pkgdir)
    created = put(f"{server.url}/api/packages/{user}/conda/{channel}/{path.name}", path, basic(user, key))
    assert created.status_code == 201, created.text
    with httpx.Client(base_url=server.url, headers=accounts.bearer(key)) as http:
        info = http.get(f"/api/v1/channels/{channel}").json()
        assert info["owner"] == user
        assert info["private"] is False  # Taipan's default for a new channel
    assert path.name in httpx.get(f"{server.url}/{channel}/noarch/repodata.json").json()["packages.conda"]
    # The same under the owner's name in another case: Forgejo owners are case-insensitive.
    again = packages.build(Spec("fj-new", "1.1"), pkgdir)
    upper = put(f"{server.url}/api/packages/{user.upper()}/conda/{channel}/{again.name}", again, basic(user, key))
    assert upper.status_code == 201, upper.text


def test_a_read_only_key_makes_no_channel(server: Server, pkgdir: Path) -> None:
    user = accounts.new_user(server, "fjr")
    key = accounts.new_key(server, user, read_only=True)
    channel = f"fjro-{user[-8:]}"
    path = packages.build(Spec("fj-ro"), pkgdir)
    refused = put(f"{server.url}/api/packages/{user}/conda/{channel}/{path.name}", path, basic(user, key))
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers
    assert httpx.get(f"{server.url}/api/v1/channels/{channel}", headers=accounts.bearer(key)).status_code == 404


def test_another_owners_path_never_reaches_a_channel_you_merely_have_rights_in(
    server: Server, owner: tuple[str, str], pkgdir: Path
) -> None:
    bob, bob_key = owner  # owns channel {bob}
    alice = accounts.new_user(server, "fja")
    alice_key = accounts.new_key(server, alice)
    accounts.add_member(server, bob_key, bob, alice, "contributor")
    path = packages.build(Spec("fj-cross"), pkgdir)
    as_alice = basic(alice, alice_key)
    # Bob's channel under Alice's path: not hers, so not there (and not made).
    mine = put(f"{server.url}/api/packages/{alice}/conda/{bob}/{path.name}", path, as_alice)
    assert mine.status_code == 404
    assert f"/api/packages/{bob}/conda/{bob}/" in mine.json()["error"]
    assert (
        httpx.get(f"{server.url}/api/packages/{alice}/conda/{bob}/noarch/repodata.json", headers=as_alice).status_code
        == 404
    )
    # A new channel under Bob's path: only Bob makes channels there.
    fresh = f"fjb-{uuid.uuid4().hex[:8]}"
    theirs = put(f"{server.url}/api/packages/{bob}/conda/{fresh}/{path.name}", path, as_alice)
    assert theirs.status_code == 401
    assert httpx.get(f"{server.url}/api/v1/channels/{fresh}", headers=accounts.bearer(bob_key)).status_code == 404
    # Bob's channel under Bob's path: Alice contributes there, as an org member would in Forgejo.
    right = put(f"{server.url}/api/packages/{bob}/conda/{bob}/{path.name}", path, as_alice)
    assert right.status_code == 201, right.text
