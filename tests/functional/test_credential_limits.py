"""What a narrowed credential may do: read-only and channel-scoped keys never write, never act
as an administrator for changes, never revoke keys, and never mint keys above themselves."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import accounts, packages
from tests.support.accounts import PASSWORD, basic, bearer
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_raw

DAY_MS = 86_400_000


def _mint(server: Server, key: str, **body: object) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        return http.post("/api/v1/tokens", json={"name": f"k-{uuid.uuid4().hex[:6]}", **body})


def _minted(server: Server, key: str, **body: object) -> dict[str, Any]:
    response = _mint(server, key, **body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


# -- F1: an administrator's narrowed key is no administrator for changes ----------------------


def test_admin_read_only_key_cannot_create_users(server: Server) -> None:
    read_only = _minted(server, server.token, read_only=True)["key"]
    name = f"evil-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, headers=bearer(read_only)) as http:
        made = http.post("/api/v1/users", json={"username": name, "password": PASSWORD, "is_admin": True})
        assert made.status_code == 403, made.text
        assert "read-only" in made.json()["error"]
        # It reads what its administrator reads.
        listed = http.get("/api/v1/users")
        assert listed.status_code == 200
        assert name not in [u["username"] for u in listed.json()]
        assert http.get("/api/v1/audit").status_code == 200
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/v1/me", headers=basic(name, PASSWORD)).status_code == 401


def test_admin_scoped_key_is_no_administrator(server: Server, channel: str) -> None:
    scoped = _minted(server, server.token, channels={channel: "owner"})["key"]
    with httpx.Client(base_url=server.url, headers=bearer(scoped)) as http:
        made = http.post("/api/v1/users", json={"username": f"x-{uuid.uuid4().hex[:6]}", "password": PASSWORD})
        assert made.status_code == 403
        assert http.get("/api/v1/users").status_code == 403
        assert http.get(f"/api/v1/channels/{channel}").status_code == 200  # its own channel, as owner


@pytest.fixture(scope="module")
def sweep_world(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real values for every path parameter, so a refusal is a refusal and not a 404 or 422."""
    pkgdir = tmp_path_factory.mktemp("sweep")
    channel = accounts.new_channel(server, server.token, private=False, prefix="sweep")
    member = accounts.new_user(server, "sweep")
    accounts.add_member(server, server.token, channel, member, "viewer")
    path = packages.build(Spec(f"sweep-{uuid.uuid4().hex[:6]}"), pkgdir)
    with server.client() as http:
        assert upload_raw(http, channel, path).status_code == 200
        publisher = http.post(
            f"/api/v1/channels/{channel}/publishers",
            json={"provider": "github", "owner": "org", "repository": "repo", "workflow": "release.yml"},
        )
        assert publisher.status_code == 201, publisher.text
    other_key = accounts.new_key(server, member)
    with httpx.Client(base_url=server.url, headers=bearer(other_key)) as http:
        key_id = str(http.get("/api/v1/tokens").json()[0]["id"])
    name, version, _ = path.name.removesuffix(".conda").rsplit("-", 2)
    return {
        "name": channel,
        "channel": channel,
        "owner": channel,
        "username": member,
        "key_id": key_id,
        "publisher_id": str(publisher.json()["id"]),
        "session_id": "1",
        "client_id": "sweep-client",
        "to": "dev2",
        "login": member,
        "subdir": "noarch",
        "filename": path.name,
        "basename": f"noarch/{path.name}",
        "label": "dev",
        "version": version,
        "package": name,
        "path": f"{channel}/{path.name}",
        "file": str(path),
        "other_key": other_key,
    }


def _example(schema: dict[str, Any], doc: dict[str, Any]) -> Any:
    """A small valid instance of a JSON schema of the OpenAPI document."""
    if "$ref" in schema:
        return _example(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], doc)
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _example(next(s for s in schema["anyOf"] if s.get("type") != "null"), doc)
    kind = schema.get("type")
    if kind == "object":
        return {k: _example(v, doc) for k, v in schema.get("properties", {}).items() if k in schema.get("required", [])}
    return {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": []}.get(str(kind))


# Bodies that would succeed for the administrator's full key (the generic example may not).
BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/users": {"username": "sweep-made", "password": PASSWORD, "is_admin": True},
    "/api/v1/channels": {"name": "sweep-made"},
    "/api/v1/channels/{name}": {"description": "changed", "private": True},
    "/api/v1/channels/{name}/members/{username}": {"role": "contributor"},
    "/api/v1/channels/{name}/transfer": {"username": "{username}"},
    "/api/v1/channels/{name}/publishers": {
        "provider": "github",
        "owner": "org",
        "repository": "other",
        "workflow": "release.yml",
    },
    "/api/v1/channels/{name}/labels/{label}/promote": {"to": "main"},
    "/api/v1/me/password": {"current_password": PASSWORD, "new_password": "another password"},
    "/api/v1/auth/login": {"username": "admin", "password": "not the password"},
}
# Not writes made with the key: signing in (the body is the credential), signing out (ends the
# cookie's session, if any), trading an OIDC token; and minting keys, which a narrowed key may do
# for a key no wider than itself (checked below).
NOT_WRITES = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/oidc/mint_token"),
    # OAuth's protocol endpoints: the credential is the grant in the form, not the key.
    ("POST", "/oauth/token"),
    ("POST", "/oauth/device_authorization"),
    ("POST", "/oauth/revoke"),
}
MINTING = {("POST", "/api/v1/tokens"), ("POST", "/api/authentications")}


def _send(http: httpx.Client, method: str, template: str, op: dict[str, Any], world: dict[str, str], doc: Any):  # type: ignore[no-untyped-def]
    path = re.sub(r"\{(\w+)\}", lambda m: world[m.group(1)], template)
    content = op.get("requestBody", {}).get("content", {})
    data = Path(world["file"]).read_bytes()
    headers = {"X-File-Name": world["filename"], "X-File-Sha256": hashlib.sha256(data).hexdigest()}
    if "application/json" in content:
        body = BODIES.get(template) or _example(content["application/json"]["schema"], doc) or {}
        body = {k: v.format(**world) if isinstance(v, str) else v for k, v in body.items()}
        return http.request(method, path, json=body, headers=headers)
    if "multipart/form-data" in content:
        return http.request(method, path, files={"file": (world["filename"], data)}, headers=headers)
    if "application/octet-stream" in content:
        headers["Content-Type"] = "application/octet-stream"
        return http.request(method, path, content=data, headers=headers)
    return http.request(method, path, headers=headers)


def test_no_write_route_answers_2xx_to_an_admin_read_only_key(server: Server, sweep_world: dict[str, str]) -> None:
    """Every non-GET route of the OpenAPI document (new ones too), sent by an administrator's
    read-only key with a body that would work for the administrator: none may succeed."""
    read_only = _minted(server, server.token, read_only=True)["key"]
    with httpx.Client(base_url=server.url, headers=bearer(read_only), timeout=120) as http:
        doc = http.get("/openapi.json").json()
        answered: dict[tuple[str, str], int] = {}
        for template, ops in doc["paths"].items():
            for method, op in ops.items():
                if method.upper() in ("GET", "HEAD", "OPTIONS") or (method.upper(), template) in NOT_WRITES:
                    continue
                response = _send(http, method.upper(), template, op, sweep_world, doc)
                answered[(method.upper(), template)] = response.status_code
                if (method.upper(), template) in MINTING and response.is_success:
                    made = response.json()
                    _assert_narrowed(server, made.get("key") or made.get("token"))
    succeeded = {route: status for route, status in answered.items() if 200 <= status < 300}
    minted = {route for route in succeeded if route in MINTING}
    wrong = {r: s for r, s in succeeded.items() if r not in minted}
    assert wrong == {}
    assert len(answered) > 25  # the document was really walked
    with server.client() as admin:
        users = [u["username"] for u in admin.get("/api/v1/users").json()]
        assert "sweep-made" not in users
        assert admin.get(f"/api/v1/channels/{sweep_world['channel']}").json()["private"] is False


def _assert_narrowed(server: Server, key: str | None) -> None:
    assert key
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        made = http.post("/api/v1/users", json={"username": f"m-{uuid.uuid4().hex[:6]}", "password": PASSWORD})
        assert made.status_code == 403
        assert http.post("/api/v1/channels", json={"name": f"m-{uuid.uuid4().hex[:6]}"}).status_code == 403


# -- F5: only an unnarrowed credential revokes keys -------------------------------------------


def _key_ids(server: Server, key: str) -> list[int]:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        return [k["id"] for k in http.get("/api/v1/tokens").json() if k["revoked_ms"] is None]


def test_narrowed_keys_revoke_nothing(server: Server, channel: str) -> None:
    user = accounts.new_user(server, "rev")
    full = accounts.new_key(server, user)
    accounts.new_key(server, user)  # the victim: the newest key
    victim_id = max(_key_ids(server, full))
    accounts.add_member(server, server.token, channel, user, "contributor")
    read_only = accounts.new_key(server, user, read_only=True)
    scoped = accounts.new_key(server, user, channels={channel: "contributor"})
    for narrowed in (read_only, scoped):
        own_id = max(_key_ids(server, full))
        with httpx.Client(base_url=server.url, headers=bearer(narrowed)) as http:
            assert http.delete(f"/api/v1/tokens/{victim_id}").status_code == 403
            for key_id in _key_ids(server, full):
                assert http.delete(f"/api/v1/tokens/{key_id}").status_code == 403
        assert victim_id in _key_ids(server, full)
        assert own_id in _key_ids(server, full)
    # The admin's scoped key may not revoke anyone's keys; the full admin key may.
    admin_scoped = _minted(server, server.token, channels={channel: "owner"})["key"]
    with httpx.Client(base_url=server.url, headers=bearer(admin_scoped)) as http:
        assert http.delete(f"/api/v1/tokens/{victim_id}").status_code == 403
    assert victim_id in _key_ids(server, full)
    with httpx.Client(base_url=server.url, headers=bearer(full)) as http:
        assert http.delete(f"/api/v1/tokens/{victim_id}").status_code == 204
    assert victim_id not in _key_ids(server, full)


# -- F6: a child never outlives or out-ranks its parent ----------------------------------------


def test_an_expiring_key_mints_keys_that_expire_with_it(server: Server) -> None:
    user = accounts.new_user(server, "exp")
    parent = accounts.new_key(server, user, expires_in_days=1)
    with httpx.Client(base_url=server.url, headers=bearer(parent)) as http:
        parent_expiry = next(k["expires_ms"] for k in http.get("/api/v1/tokens").json())
    assert parent_expiry is not None
    forever = _minted(server, parent)
    assert forever["expires_ms"] == parent_expiry
    longer = _minted(server, parent, expires_in_days=30)
    assert longer["expires_ms"] == parent_expiry
    shorter = _minted(server, parent, expires_in_days=0.5)
    assert shorter["expires_ms"] < parent_expiry
    grandchild = _minted(server, forever["key"])
    assert grandchild["expires_ms"] == parent_expiry


def test_a_child_never_out_ranks_its_parent(server: Server, pkgdir: Path) -> None:
    owner = accounts.new_user(server, "rank")
    owner_key = accounts.new_key(server, owner)
    mine = accounts.new_channel(server, owner_key, private=True)
    other = accounts.new_channel(server, owner_key, private=True)
    read_only = accounts.new_key(server, owner, read_only=True)
    child = _minted(server, read_only)
    assert child["read_only"] is True
    assert _mint(server, read_only, channels={mine: "owner"}).status_code == 403
    scoped_child = _minted(server, read_only, channels={mine: None})
    assert scoped_child["read_only"] is True
    pkg = packages.build(Spec(f"rank-{uuid.uuid4().hex[:6]}"), pkgdir)
    for key in (child["key"], scoped_child["key"]):
        with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
            assert upload_raw(http, mine, pkg).status_code == 403
            assert http.get(f"/{mine}/noarch/repodata.json").status_code == 200
    scoped = accounts.new_key(server, owner, channels={mine: "contributor"})
    assert _mint(server, scoped, channels={other: "viewer"}).status_code == 404  # outside its scope: hidden
    assert _mint(server, scoped, channels={mine: "owner"}).status_code == 403  # above its cap
    inherited = _minted(server, scoped)  # no channels named: the parent's scope
    assert inherited["channels"] == {mine: "contributor"}
    within = _minted(server, scoped, channels={mine: "viewer"})
    assert within["channels"] == {mine: "viewer"}
    assert within["read_only"] is True
    with httpx.Client(base_url=server.url, headers=bearer(inherited["key"])) as http:
        assert http.get(f"/{other}/noarch/repodata.json").status_code == 404
        assert upload_raw(http, mine, pkg).status_code == 200


def test_admin_rights_are_not_inherited_by_a_narrowed_child(server: Server, channel: str) -> None:
    read_only = _minted(server, server.token, read_only=True)["key"]
    _assert_narrowed(server, _minted(server, read_only)["key"])
    scoped = _minted(server, server.token, channels={channel: "owner"})["key"]
    _assert_narrowed(server, _minted(server, scoped)["key"])
