"""Make users, keys and channels through the API, as people would."""

from __future__ import annotations

import base64
import uuid

import httpx

from tests.support.server import Server

PASSWORD = "correct horse battery"


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_user(server: Server, prefix: str = "u") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        response = http.post("/api/v1/users", json={"username": name, "password": PASSWORD})
        assert response.status_code == 201, response.text
    return name


def new_key(server: Server, username: str, **body: object) -> str:
    with httpx.Client(base_url=server.url, headers=basic(username, PASSWORD)) as http:
        response = http.post("/api/v1/tokens", json={"name": "test key", **body})
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


def new_channel(server: Server, owner_key: str, *, private: bool, prefix: str = "c") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        response = http.post("/api/v1/channels", json={"name": name, "private": private})
        assert response.status_code == 201, response.text
    return name


def add_member(server: Server, owner_key: str, channel: str, username: str, role: str) -> None:
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        response = http.put(f"/api/v1/channels/{channel}/members/{username}", json={"role": role})
        assert response.status_code == 200, response.text
