"""Accounts end to end: private installs with every rattler credential kind, ownership,
deletion, sessions, rate limiting, the audit log, and the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, cli, packages, rattler_client
from tests.support.accounts import PASSWORD, basic, bearer
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw


@pytest.fixture
def private_setup(server: Server, pkgdir: Path) -> tuple[str, str, str]:
    """A private channel with two packages; returns (channel, member name, member key)."""
    owner = accounts.new_user(server, "own")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    member = accounts.new_user(server, "mem")
    accounts.add_member(server, owner_key, channel, member, "viewer")
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        for spec in (Spec("secret-lib", subdir="linux-64"), Spec("secret-app", depends=["secret-lib"])):
            assert upload_raw(http, channel, packages.build(spec, pkgdir)).status_code == 200
    return channel, member, accounts.new_key(server, member, read_only=True)


@pytest.mark.parametrize("kind", ["BearerToken", "BasicHTTP", "CondaToken"])
def test_rattler_installs_from_a_private_channel(
    server: Server, private_setup: tuple[str, str, str], tmp_path: Path, kind: str
) -> None:
    channel, member, key = private_setup
    credential: object = key
    if kind == "BasicHTTP":
        credential = {"username": member, "password": PASSWORD}
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"127.0.0.1": {kind: credential}}))
    result = rattler_client.solve(
        [f"{server.url}/{channel}"], ["secret-app"], tmp_path / "cache", prefix=tmp_path / "env", auth_file=auth_file
    )
    assert result["ok"], result
    assert sorted(r["name"] for r in result["records"]) == ["secret-app", "secret-lib"]
    assert len(result["installed"]) == 2


def test_rattler_without_credentials_fails_cleanly(
    server: Server, private_setup: tuple[str, str, str], tmp_path: Path
) -> None:
    channel, _, _ = private_setup
    result = rattler_client.solve([f"{server.url}/{channel}"], ["secret-app"], tmp_path / "cache")
    assert not result["ok"]
    assert "401" in result["error"] or "nauthorized" in result["error"]


def test_transfer_then_delete(server: Server, pkgdir: Path) -> None:
    alice, bob = accounts.new_user(server, "alice"), accounts.new_user(server, "bob")
    alice_key, bob_key = accounts.new_key(server, alice), accounts.new_key(server, bob)
    channel = accounts.new_channel(server, alice_key, private=True)
    path = packages.build(Spec("going"), pkgdir)
    with httpx.Client(base_url=server.url, headers=bearer(alice_key)) as http:
        assert upload_raw(http, channel, path).status_code == 200
        transferred = http.post(f"/api/v1/channels/{channel}/transfer", json={"username": bob})
        assert transferred.status_code == 200, transferred.text
        assert {m["username"]: m["role"] for m in transferred.json()} == {bob: "owner", alice: "contributor"}
        # Alice is a contributor now: she may upload, not manage.
        assert http.put(f"/api/v1/channels/{channel}/members/{bob}", json={"role": "viewer"}).status_code == 403
        assert http.delete(f"/api/v1/channels/{channel}", params={"confirm": channel}).status_code == 403
    storage = server.storage()
    stored = f"{channel}/noarch/{path.name}"
    assert storage.stat(stored) is not None
    with httpx.Client(base_url=server.url, headers=bearer(bob_key)) as http:
        assert http.get(f"/api/v1/channels/{channel}").json()["owner"] == bob
        assert http.delete(f"/api/v1/channels/{channel}").status_code == 400  # no confirmation
        assert http.delete(f"/api/v1/channels/{channel}", params={"confirm": channel}).status_code == 204
        assert http.get(f"/api/v1/channels/{channel}").status_code == 404
    assert storage.stat(stored) is None
    assert list(storage.list(f"{channel}/")) == []
    with httpx.Client(base_url=server.url, headers=bearer(alice_key)) as http:
        # The name is free again.
        assert http.post("/api/v1/channels", json={"name": channel}).status_code == 201


def test_owner_cannot_be_demoted_or_removed_directly(server: Server) -> None:
    owner = accounts.new_user(server, "own")
    key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, key, private=False)
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        assert http.put(f"/api/v1/channels/{channel}/members/{owner}", json={"role": "viewer"}).status_code == 409
        assert http.delete(f"/api/v1/channels/{channel}/members/{owner}").status_code == 409
        assert http.put(f"/api/v1/channels/{channel}/members/{owner}", json={"role": "owner"}).status_code == 400
        assert http.put(f"/api/v1/channels/{channel}/members/nobody-here", json={"role": "viewer"}).status_code == 404


def test_keys_never_exceed_their_maker(server: Server) -> None:
    owner, viewer = accounts.new_user(server, "own"), accounts.new_user(server, "view")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    accounts.add_member(server, owner_key, channel, viewer, "viewer")
    with httpx.Client(base_url=server.url, headers=basic(viewer, PASSWORD)) as http:
        too_much = http.post("/api/v1/tokens", json={"name": "x", "channels": {channel: "contributor"}})
        assert too_much.status_code == 403
        read_key = http.post("/api/v1/tokens", json={"name": "x", "channels": {channel: None}})
        assert read_key.status_code == 201, read_key.text
        assert read_key.json()["read_only"] is True
        assert read_key.json()["channels"] == {channel: "viewer"}
        key = read_key.json()["key"]
        assert "_" not in key
        assert "." not in key
        assert http.get("/api/v1/tokens").json()[0]["name"] == "x"
        assert "key" not in http.get("/api/v1/tokens").json()[0]
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        assert http.get(f"/{channel}/noarch/repodata.json").status_code == 200
        assert http.post("/api/v1/channels", json={"name": "nope-" + channel}).status_code == 403


def test_session_login_csrf_and_password_change(server: Server) -> None:
    name = accounts.new_user(server, "web")
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/api/v1/auth/login", json={"username": name, "password": "nope-nope"}).status_code == 401
        login = http.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        csrf = login.json()["csrf_token"]
        assert http.get("/api/v1/me").json()["username"] == name
        assert http.post("/api/v1/channels", json={"name": f"s-{name}"}).status_code == 403  # no CSRF header
        made = http.post("/api/v1/channels", json={"name": f"s-{name}"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201
        changed = http.put(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new secret"},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 204
        assert http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert http.get("/api/v1/me").status_code == 401
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/v1/me", headers=basic(name, PASSWORD)).status_code == 401
        assert http.get("/api/v1/me", headers=basic(name, "a brand new secret")).status_code == 200


def test_audit_log(server: Server, pkgdir: Path) -> None:
    owner, helper = accounts.new_user(server, "own"), accounts.new_user(server, "help")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    accounts.add_member(server, owner_key, channel, helper, "contributor")
    helper_key = accounts.new_key(server, helper)
    path = packages.build(Spec("audited"), pkgdir)
    with httpx.Client(base_url=server.url, headers=bearer(helper_key)) as http:
        assert upload_raw(http, channel, path).status_code == 200
        assert http.delete(f"/api/v1/delete/{channel}/noarch/{path.name}").status_code == 200
        assert http.get(f"/api/v1/channels/{channel}/audit").status_code == 403
        assert http.get("/api/v1/audit").status_code == 403
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        events = http.get(f"/api/v1/channels/{channel}/audit").json()
    actions = [(e["actor"], e["action"], e["target"]) for e in events]
    assert (helper, "package_deleted", f"noarch/{path.name}") in actions
    assert (owner, "member_added", helper) in actions
    assert (owner, "channel_created", None) in actions
    with server.client() as http:
        everything = http.get("/api/v1/audit", params={"limit": 1000}).json()
    assert any(e["action"] == "key_created" and e["actor"] == helper for e in everything)


@pytest.mark.backend_independent  # the rate limiter lives in memory
def test_repeated_failures_are_rate_limited(server_factory) -> None:  # type: ignore[no-untyped-def]
    limits = {"TAIPAN_AUTH_FAILURE_LIMIT": "3", "TAIPAN_AUTH_FAILURE_WINDOW": "60"}
    with server_factory(limits) as srv, httpx.Client(base_url=srv.url) as http:
        for _ in range(3):
            assert http.get("/api/v1/me", headers=bearer("taipan-wrong")).status_code == 401
        limited = http.get("/api/v1/me", headers=bearer("taipan-wrong"))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "too many" in limited.json()["error"]
        # Even a good key waits while the address is blocked; login attempts too.
        assert http.get("/api/v1/me", headers=bearer(srv.token)).status_code == 429
        assert http.post("/api/v1/auth/login", json={"username": "a", "password": "bbbbbbbb"}).status_code == 429


def _cli(
    server: Server, *args: str, stdin: str | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**server.env(), "TAIPAN_SERVER": server.url, "TAIPAN_TOKEN": token}
    return cli.taipan(*args, env=env, stdin=stdin)


def test_cli_users_tokens_members(server: Server) -> None:
    made = _cli(server, "user", "create", "cli-carol", "--password-stdin", stdin="carol's password\n")
    assert made.returncode == 0, made.stderr
    assert "cli-carol" in _cli(server, "user", "list").stdout
    owner = accounts.new_user(server, "cliown")
    owner_key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, owner_key, private=True)
    added = _cli(server, "channel", "member", "add", channel, "cli-carol", "--role", "contributor", token=owner_key)
    assert added.returncode == 0, added.stderr
    members = _cli(server, "channel", "member", "list", channel, token=owner_key).stdout
    assert "cli-carol\tcontributor" in members
    assert f"{owner}\towner" in members
    with httpx.Client(base_url=server.url, headers=basic("cli-carol", "carol's password")) as http:
        carol_key = http.post("/api/v1/tokens", json={"name": "bootstrap"}).json()["key"]
    created = _cli(
        server, "token", "create", "ci", "--channel", f"{channel}:contributor", "--expires-days", "30", token=carol_key
    )
    assert created.returncode == 0, created.stderr
    new_key = created.stdout.strip()
    assert new_key.startswith("taipan-")
    listed = _cli(server, "token", "list", token=carol_key).stdout
    assert f"{channel}:contributor" in listed
    key_id = next(line.split("\t")[0] for line in listed.splitlines() if "\tci\t" in line)
    assert _cli(server, "token", "revoke", key_id, token=carol_key).returncode == 0
    with httpx.Client(base_url=server.url, headers=bearer(new_key)) as http:
        assert http.get(f"/{channel}/noarch/repodata.json").status_code == 401
    assert _cli(server, "channel", "member", "remove", channel, "cli-carol", token=owner_key).returncode == 0
    assert _cli(server, "channel", "update", channel, "--public", token=owner_key).returncode == 0
    with httpx.Client(base_url=server.url) as http:
        assert http.get(f"/{channel}/noarch/repodata.json").status_code == 200
