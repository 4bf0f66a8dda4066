"""Every anaconda-client 1.16 command Taipan supports, run unmodified against a server; and
the rights and secrecy rules behind them, request by request."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, packages
from tests.support.accounts import PASSWORD, bearer
from tests.support.anaconda import Anaconda
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw


def _token(key: str) -> dict[str, str]:
    return {"Authorization": f"token {key}"}


def _names(server: Server, path: str, key: str | None = None) -> set[str]:
    response = httpx.get(f"{server.url}{path}", headers=bearer(key) if key else {})
    if response.status_code == 404:
        return set()
    body = response.json()
    return set(body["packages"]) | set(body["packages.conda"])


def _says(said: str, *parts: str) -> None:
    missing = [p for p in parts if p not in said]
    assert not missing, said


def _pkg() -> str:
    return f"ac{uuid.uuid4().hex[:8]}"


def test_every_command(server: Server, tmp_path: Path) -> None:
    user = accounts.new_user(server, "cli")
    client = Anaconda(server, tmp_path / "home")
    client.run("login", "--username", user, "--password", PASSWORD)
    name, other = _pkg(), _pkg()
    pkgdir = tmp_path / "pkgs"
    old = packages.build(Spec(name, "1.0", subdir="linux-64", about={"summary": "the old one"}), pkgdir)
    new = packages.build(Spec(name, "2.0", about={"summary": "the new one"}), pkgdir)
    lone = packages.build(Spec(other, "0.1"), pkgdir)
    client.run("upload", "-l", "dev", str(old))
    client.run("upload", "-l", "dev", str(new))
    client.run("upload", str(lone))

    # With anaconda-auth installed (as anaconda-client 1.16 brings it), whoami and logout ask
    # which service is meant unless told: --at anaconda.org (or `anaconda org whoami`).
    said = client.out("whoami", "--at", "anaconda.org")
    _says(said, f"Username: {user}", "Member since")
    said = client.out("show", user)
    _says(said, f"Username: {user}", f"{user}/{name}", f"{user}/{other}")
    said = client.out("show", f"{user}/{name}")
    _says(said, "Summary: the new one", "Access:  public")
    _says(said, "+ 1.0", "+ 2.0")
    said = client.out("show", f"{user}/{name}/1.0")
    _says(said, f"linux-64/{old.name}")
    assert new.name not in said, said
    said = client.out("show", f"{user}/{name}/2.0/noarch/{new.name}")
    assert f"noarch/{new.name}" in said, said
    said = client.out("search", name)
    _says(said, f"{user}/{name}", "Found 1 packages")

    said = client.out("label", "--list")
    _says(said, " + dev", " + main")
    said = client.out("label", "--show", "dev")
    _says(said, f"{user}/{name}/1.0/linux-64/{old.name}", f"{user}/{name}/2.0/noarch/{new.name}")
    client.run("label", "--copy", "dev", "main")
    assert _names(server, f"/{user}/linux-64/repodata.json") == {old.name}
    client.run("label", "--remove", "dev")
    assert _names(server, f"/{user}/label/dev/noarch/repodata.json") == set()
    assert "dev" not in client.out("label", "--list")

    client.run("remove", "-f", f"{user}/{name}/1.0")
    assert _names(server, f"/{user}/linux-64/repodata.json") == set()
    assert httpx.get(f"{server.url}/{user}/linux-64/{old.name}").status_code == 404
    assert _names(server, f"/{user}/noarch/repodata.json") == {new.name, lone.name}
    client.run("remove", "-f", f"{user}/{name}")
    assert _names(server, f"/{user}/noarch/repodata.json") == {lone.name}
    assert not any(key.endswith((old.name, new.name)) for key in server.stored_files())
    assert client.run("show", f"{user}/{name}", check=False).returncode != 0

    key = client.token()
    assert key is not None
    assert httpx.get(f"{server.url}/api/user", headers=_token(key)).status_code == 200
    assert "logout successful" in client.out("logout", "--at", "anaconda.org")
    assert httpx.get(f"{server.url}/api/user", headers=_token(key)).status_code == 401


def test_logout_revokes_exactly_the_key_presented(server: Server) -> None:
    user = accounts.new_user(server, "out")
    kept, gone = accounts.new_key(server, user), accounts.new_key(server, user)
    assert httpx.delete(f"{server.url}/api/authentications", headers=_token(gone)).status_code == 201
    assert httpx.get(f"{server.url}/api/user", headers=_token(gone)).status_code == 401
    assert httpx.get(f"{server.url}/api/user", headers=_token(kept)).json()["login"] == user
    assert httpx.delete(f"{server.url}/api/authentications").status_code == 401


@pytest.fixture
def secret(server: Server, tmp_path: Path) -> tuple[str, str, Path]:
    """(private channel, its owner's key, a file in it)."""
    owner = accounts.new_user(server, "sec")
    key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, key, private=True)
    path = packages.build(Spec(_pkg()), tmp_path)
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        assert upload_raw(http, channel, path).status_code == 200
    return channel, key, path


def test_a_private_channel_reveals_nothing(server: Server, secret: tuple[str, str, Path]) -> None:
    channel, key, path = secret
    name = path.name.split("-")[0]
    stranger = _token(accounts.new_key(server, accounts.new_user(server, "str")))
    missing = f"no-{uuid.uuid4().hex[:8]}"
    for headers in ({}, stranger):
        found = httpx.get(f"{server.url}/api/search", params={"name": name}, headers=headers)
        assert found.status_code == 200
        assert found.json() == []
        for path_of in (
            "/api/channels/{}",
            "/api/channels/{}/main",
            "/api/packages/{}",
            f"/api/package/{{}}/{name}",
            f"/api/release/{{}}/{name}/1.0",
            f"/api/dist/{{}}/{name}/1.0/noarch/{path.name}",
            "/api/user/{}",
        ):
            hidden = httpx.get(server.url + path_of.format(channel), headers=headers)
            absent = httpx.get(server.url + path_of.format(missing), headers=headers)
            assert hidden.status_code == absent.status_code == (401 if not headers else 404), path_of
            assert hidden.text.replace(channel, "X") == absent.text.replace(missing, "X"), path_of
    found = httpx.get(f"{server.url}/api/search", params={"name": name}, headers=_token(key)).json()
    assert [(p["full_name"], p["public"]) for p in found] == [(f"{channel}/{name}", False)]
    labels = httpx.get(f"{server.url}/api/channels/{channel}", headers=_token(key))
    assert labels.json() == {"main": {"is_locked": False, "num_files": 1}}


def test_commit_is_no_oracle(server: Server, secret: tuple[str, str, Path], tmp_path: Path) -> None:
    """F10: committing a staged file that never arrived answers the same whether a file of that
    name exists in a channel the caller cannot read or nowhere at all."""
    channel, _, path = secret
    user = accounts.new_user(server, "orc")
    headers = _token(accounts.new_key(server, user))
    elsewhere = packages.build(Spec(_pkg()), tmp_path / "other")
    answers = []
    with httpx.Client(base_url=f"{server.url}/api", headers=headers) as http:
        assert http.post(f"/package/{user}/x", json={}).status_code == 200  # makes the user's channel
        for filename in (path.name, elsewhere.name):
            name, version = filename.split("-")[:2]
            staged = http.post(f"/stage/{user}/{name}/{version}/noarch/{filename}", json={"channels": []})
            assert staged.status_code == 200, staged.text
            # The ticket is spent, but the file never arrives (its MD5 does not match).
            form = [("ticket", (None, staged.json()["form_data"]["ticket"]))]
            form += [("Content-MD5", (None, base64.b64encode(b"0" * 16).decode())), ("file", (None, b"x"))]
            assert httpx.post(staged.json()["post_url"], files=form).status_code == 400
            done = http.post(f"/commit/{user}/{name}/{version}/noarch/{filename}", json=staged.json())
            answers.append((done.status_code, done.text.replace(filename, "FILE")))
        assert answers[0] == answers[1]
        assert answers[0][0] == 400
        hidden = http.post(f"/commit/{channel}/a/1/noarch/{path.name}", json={"dist_id": "x"})
        absent = http.post(f"/commit/no-{channel}/a/1/noarch/{path.name}", json={"dist_id": "x"})
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text.replace(channel, "X") == absent.text.replace(f"no-{channel}", "X")


def test_label_remove_keeps_one_label_per_file(server: Server, tmp_path: Path) -> None:
    user = accounts.new_user(server, "lab")
    key = accounts.new_key(server, user)
    channel = accounts.new_channel(server, key, private=False)
    path = packages.build(Spec(_pkg()), tmp_path)
    with httpx.Client(base_url=server.url, headers=_token(key)) as http:
        uploaded = upload_raw(http, channel, path)
        assert uploaded.status_code == 200
        refused = http.delete(f"/api/channels/{channel}/main")
        assert refused.status_code == 409
        assert "only the label" in refused.json()["error"]
        assert http.post(f"/api/channels/{channel}/main/copy/beta").status_code == 201
        assert http.delete(f"/api/channels/{channel}/main").status_code == 201
        assert http.get(f"/api/channels/{channel}").json() == {"beta": {"is_locked": False, "num_files": 1}}
        assert http.get(f"/api/channels/{channel}/main").status_code == 404
        assert http.post(f"/api/channels/{channel}/beta/lock").status_code == 400


# F11: creating and removing packages and releases is a write like any other.
WRITES = [
    ("POST", "/api/package/{c}/{n}"),
    ("PATCH", "/api/package/{c}/{n}"),
    ("DELETE", "/api/package/{c}/{n}"),
    ("POST", "/api/release/{c}/{n}/1.0"),
    ("PATCH", "/api/release/{c}/{n}/1.0"),
    ("DELETE", "/api/release/{c}/{n}/1.0"),
]


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_package_and_release_writes_need_contributor(server: Server, tmp_path: Path, private: bool) -> None:
    owner = accounts.new_user(server, "own")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=private)
    viewer, contributor = accounts.new_user(server, "vie"), accounts.new_user(server, "con")
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    accounts.add_member(server, owner_key, channel, contributor, "contributor")
    path = packages.build(Spec(_pkg()), tmp_path)
    name = path.name.split("-")[0]
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        uploaded = upload_raw(http, channel, path)
        assert uploaded.status_code == 200
    callers = {
        "anonymous": ({}, 401),
        "outsider": (_token(accounts.new_key(server, accounts.new_user(server, "out"))), 404 if private else 403),
        "viewer": (_token(accounts.new_key(server, viewer)), 403),
        "read_only": (_token(accounts.new_key(server, owner, read_only=True)), 403),
    }
    for caller, (headers, expected) in callers.items():
        for method, template in WRITES:
            url = server.url + template.format(c=channel, n=name)
            answer = httpx.request(method, url, headers=headers, json={})
            assert answer.status_code == expected, (caller, method, url, answer.text)
    assert _names(server, f"/{channel}/noarch/repodata.json", owner_key) == {path.name}
    allowed = _token(accounts.new_key(server, contributor))
    for method, template in WRITES[:2] + WRITES[3:5]:
        answer = httpx.request(method, server.url + template.format(c=channel, n=name), headers=allowed, json={})
        assert answer.status_code == 200, (method, template, answer.text)
    removed = httpx.delete(f"{server.url}/api/release/{channel}/{name}/1.0", headers=allowed)
    assert removed.status_code == 201
    assert _names(server, f"/{channel}/noarch/repodata.json", owner_key) == set()
