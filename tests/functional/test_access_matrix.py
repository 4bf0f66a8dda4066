"""Who may do what: every kind of caller, every action, public and private channels.

Private channels reveal nothing: for callers without access, every answer about a private
channel is the same as for a channel that does not exist (status and message).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import accounts, packages
from tests.support.accounts import bearer
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw

ACTIONS = ["read", "upload", "delete_package", "manage_members", "delete_channel"]
CALLERS = [
    "anonymous",
    "viewer",
    "contributor",
    "owner",
    "admin",
    "revoked",
    "expired",
    "read_only",
    "other_channel_key",
    "stranger",
]

# Expected status per caller and action, for a public and a private channel.
# "delete_channel" is sent with a wrong confirmation: 400 means authorised (nothing is deleted).
ALLOWED = {"read": 200, "upload": 200, "delete_package": 200, "manage_members": 200, "delete_channel": 400}
READER = {"read": 200, "upload": 403, "delete_package": 403, "manage_members": 403, "delete_channel": 403}
WRITER = {**READER, "upload": 200, "delete_package": 200}
BAD_KEY = dict.fromkeys(ACTIONS, 401)
ANONYMOUS_PUBLIC = {**dict.fromkeys(ACTIONS, 401), "read": 200}
HIDDEN_ANONYMOUS = dict.fromkeys(ACTIONS, 401)
HIDDEN = dict.fromkeys(ACTIONS, 404)

EXPECTED: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    # caller: (public channel, private channel)
    "anonymous": (ANONYMOUS_PUBLIC, HIDDEN_ANONYMOUS),
    "viewer": (READER, READER),
    "contributor": (WRITER, WRITER),
    "owner": (ALLOWED, ALLOWED),
    "admin": (ALLOWED, ALLOWED),
    "revoked": (BAD_KEY, BAD_KEY),
    "expired": (BAD_KEY, BAD_KEY),
    "read_only": (READER, READER),
    "other_channel_key": (READER, HIDDEN),
    "stranger": (READER, HIDDEN),
}


@dataclass
class World:
    server: Server
    headers: dict[str, dict[str, str]]
    public: str
    private: str
    pkgdir: Path


@pytest.fixture(scope="module")
def world(server: Server, tmp_path_factory: pytest.TempPathFactory) -> World:
    owner, contributor, viewer, stranger = (accounts.new_user(server, p) for p in ("own", "con", "view", "str"))
    owner_key = accounts.new_key(server, owner)
    public = accounts.new_channel(server, owner_key, private=False, prefix="pub")
    private = accounts.new_channel(server, owner_key, private=True, prefix="priv")
    elsewhere = accounts.new_channel(server, owner_key, private=True, prefix="else")
    for channel in (public, private):
        accounts.add_member(server, owner_key, channel, contributor, "contributor")
        accounts.add_member(server, owner_key, channel, viewer, "viewer")
    revoked = accounts.new_key(server, owner)
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        keys = http.get("/api/v1/tokens").json()
        key_id = max(k["id"] for k in keys)
        assert http.delete(f"/api/v1/tokens/{key_id}").status_code == 204
    expired = accounts.new_key(server, owner, expires_in_days=1 / 86400)  # one second
    headers = {
        "anonymous": {},
        "owner": bearer(owner_key),
        "contributor": bearer(accounts.new_key(server, contributor)),
        "viewer": bearer(accounts.new_key(server, viewer)),
        "stranger": bearer(accounts.new_key(server, stranger)),
        "admin": bearer(server.token),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
        "read_only": bearer(accounts.new_key(server, owner, read_only=True)),
        "other_channel_key": bearer(accounts.new_key(server, owner, channels={elsewhere: "owner"})),
    }
    time.sleep(1.2)  # let the expired key expire
    return World(server, headers, public, private, tmp_path_factory.mktemp("matrix-pkgs"))


def _act(world: World, caller: str, action: str, channel: str) -> httpx.Response:
    unique = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=world.server.url, headers=world.headers[caller], timeout=60) as http:
        if action == "read":
            return http.get(f"/{channel}/noarch/repodata.json")
        if action == "upload":
            return upload_raw(http, channel, packages.build(Spec(f"up-{unique}"), world.pkgdir))
        if action == "delete_package":
            path = packages.build(Spec(f"del-{unique}"), world.pkgdir)
            with world.server.client() as admin:
                # 404: the channel does not exist (comparing a private channel with a missing one)
                assert upload_raw(admin, channel, path).status_code in (200, 404)
            return http.delete(f"/api/v1/delete/{channel}/noarch/{path.name}")
        if action == "manage_members":
            return http.put(f"/api/v1/channels/{channel}/members/admin", json={"role": "viewer"})
        if action == "delete_channel":
            return http.delete(f"/api/v1/channels/{channel}", params={"confirm": "not-the-name"})
    raise AssertionError(action)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_matrix(world: World, caller: str, visibility: str) -> None:
    channel = world.public if visibility == "public" else world.private
    expected = EXPECTED[caller][0 if visibility == "public" else 1]
    got = {action: _act(world, caller, action, channel).status_code for action in ACTIONS}
    assert got == expected


@pytest.mark.parametrize("caller", ["anonymous", "stranger", "other_channel_key"])
def test_private_channel_looks_like_a_missing_one(world: World, caller: str) -> None:
    missing = f"priv-{uuid.uuid4().hex[:8]}"
    for action in ACTIONS:
        existing = _act(world, caller, action, world.private)
        absent = _act(world, caller, action, missing)
        assert existing.status_code == absent.status_code, action
        assert existing.json() == _renamed(absent.json(), missing, world.private), action
        assert ("www-authenticate" in existing.headers) == ("www-authenticate" in absent.headers)
    with httpx.Client(base_url=world.server.url, headers=world.headers[caller]) as http:
        listed = [c["name"] for c in http.get("/api/v1/channels").json()]
        assert world.private not in listed
        assert world.public in listed


def _renamed(body: dict[str, str], old: str, new: str) -> dict[str, str]:
    return {k: v.replace(old, new) for k, v in body.items()}


def test_anonymous_is_asked_for_credentials(world: World) -> None:
    response = _act(world, "anonymous", "read", world.private)
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]


def test_bad_credential_on_public_channel_is_an_error(world: World) -> None:
    with httpx.Client(base_url=world.server.url, headers=bearer("taipan-doesnotexist")) as http:
        assert http.get(f"/{world.public}/noarch/repodata.json").status_code == 401
    with httpx.Client(base_url=world.server.url) as http:
        assert http.get(f"/t/taipan-doesnotexist/{world.public}/noarch/repodata.json").status_code == 401


CredentialForm = Callable[[str, str], tuple[str, dict[str, str]]]
FORMS: dict[str, CredentialForm] = {
    "bearer": lambda key, path: (path, {"Authorization": f"Bearer {key}"}),
    "token": lambda key, path: (path, {"Authorization": f"token {key}"}),
    "x-api-key": lambda key, path: (path, {"X-API-Key": key}),
    "basic-key": lambda key, path: (path, accounts.basic("anything", key)),
    "path-token": lambda key, path: (f"/t/{key}{path}", {}),
    "conda-path-token": lambda key, path: (f"/conda/t/{key}{path}", {}),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_credential_form_reads_and_uploads(world: World, form: str) -> None:
    key = world.headers["contributor"]["Authorization"].removeprefix("Bearer ")
    path, headers = FORMS[form](key, f"/{world.private}/noarch/repodata.json")
    with httpx.Client(base_url=world.server.url) as http:
        assert http.get(path, headers=headers).status_code == 200
        spec = Spec(f"form-{form}-{uuid.uuid4().hex[:6]}")
        pkg = packages.build(spec, world.pkgdir)
        upload_path, headers = FORMS[form](key, f"/api/v1/upload/{world.private}")
        response = http.post(
            upload_path,
            content=pkg.read_bytes(),
            headers={**headers, "X-File-Name": pkg.name, "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text


def test_basic_with_user_and_password(world: World, server: Server) -> None:
    username = accounts.new_user(server, "basic")
    owner_key = world.headers["owner"]["Authorization"].removeprefix("Bearer ")
    accounts.add_member(server, owner_key, world.private, username, "viewer")
    with httpx.Client(base_url=server.url) as http:
        ok = http.get(f"/{world.private}/noarch/repodata.json", headers=accounts.basic(username, accounts.PASSWORD))
        assert ok.status_code == 200
        bad = http.get(f"/{world.private}/noarch/repodata.json", headers=accounts.basic(username, "wrong password"))
        assert bad.status_code == 401
