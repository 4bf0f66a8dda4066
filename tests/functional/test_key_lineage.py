"""A key minted by another key never outlives it: revoking a key revokes every key made from it,
down the chain, and a descendant of a revoked key fails authentication."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support import accounts
from tests.support.accounts import bearer
from tests.support.server import Server


def _mint(server: Server, key: str, **body: object) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        response = http.post("/api/v1/tokens", json={"name": f"k-{uuid.uuid4().hex[:6]}", **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def _me(server: Server, key: str) -> int:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        return http.get("/api/v1/me").status_code


def _revoke(server: Server, key: str, key_id: int) -> None:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        assert http.delete(f"/api/v1/tokens/{key_id}").status_code == 204


def _revoked(server: Server, key: str) -> dict[int, int | None]:
    with httpx.Client(base_url=server.url, headers=bearer(key)) as http:
        return {k["id"]: k["revoked_ms"] for k in http.get("/api/v1/tokens").json()}


def test_revoking_a_key_revokes_its_descendants(server: Server) -> None:
    user = accounts.new_user(server, "lin")
    signed_in = accounts.new_key(server, user)  # a root: minted with the password
    parent = _mint(server, signed_in)
    child = _mint(server, parent["key"])
    grandchild = _mint(server, child["key"], read_only=True)
    assert [_me(server, k["key"]) for k in (parent, child, grandchild)] == [200, 200, 200]
    _revoke(server, parent["key"], parent["id"])
    for revoked_key in (parent, child, grandchild):
        with httpx.Client(base_url=server.url, headers=bearer(revoked_key["key"])) as http:
            answer = http.get("/api/v1/me")
        assert answer.status_code == 401, answer.text
    # Every descendant is marked revoked (not only refused), and the key that minted the parent works.
    revoked = _revoked(server, signed_in)
    assert all(revoked[k["id"]] is not None for k in (parent, child, grandchild))
    assert _me(server, signed_in) == 200
    with httpx.Client(base_url=server.url, headers=bearer(server.token)) as http:
        events = http.get("/api/v1/audit", params={"limit": 200}).json()
    targets = {e["target"] for e in events if e["action"] == "key_revoked"}
    assert {f"{k['id']}:{k['name']}" for k in (parent, child, grandchild)} <= targets


def test_revoking_a_child_leaves_its_parent_working(server: Server) -> None:
    user = accounts.new_user(server, "lin")
    parent = accounts.new_key(server, user)
    child = _mint(server, parent)
    grandchild = _mint(server, child["key"])
    _revoke(server, parent, child["id"])
    assert _me(server, parent) == 200
    assert _me(server, child["key"]) == 401
    assert _me(server, grandchild["key"]) == 401
    # The parent still mints keys, and they work.
    assert _me(server, _mint(server, parent)["key"]) == 200
