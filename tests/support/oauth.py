"""Drive Taipan's OAuth provider as rattler does, with httpx as both the CLI and the browser.

The browser signs in through the real sign-in form, then answers the real consent page
(with its CSRF token); the "CLI" talks to the token endpoints with the form bodies
rattler sends (crates/rattler/src/cli/auth/oauth.rs, rattler_networking/src/oauth_refresh.rs).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.server import TLS, Server
from tests.support.ui import csrf_of, sign_in

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RATTLER_SCOPES = "openid profile offline_access"
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def cli(server: Server) -> httpx.Client:
    """The CLI's client: no cookies carried over, no credentials."""
    return httpx.Client(base_url=server.url, timeout=60, verify=TLS)


def token(server: Server, **form: str) -> httpx.Response:
    with cli(server) as http:
        return http.post("/oauth/token", data={"client_id": "rattler", **form})


def authorize_params(redirect_uri: str, challenge: str, scope: str = RATTLER_SCOPES, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "rattler",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": secrets.token_urlsafe(16),
        **extra,
    }


def consent_fields(page: httpx.Response) -> dict[str, str]:
    assert page.status_code == 200, page.text
    return {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}


def browser_code(
    server: Server, username: str, params: dict[str, str], decision: str = "allow"
) -> dict[str, list[str]]:
    """Sign in through the form, open the authorization URL, answer the consent page; the
    query of the redirect back to the client (code and state, or error)."""
    with sign_in(server, username) as browser:
        page = browser.get("/oauth/authorize", params=params)
        fields = consent_fields(page)
        assert fields["csrf_token"] == csrf_of(page)
        response = browser.post("/oauth/authorize", data={**fields, "decision": decision})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(params["redirect_uri"]), location
    return parse_qs(urlsplit(location).query)


def code_flow(server: Server, username: str, scope: str = RATTLER_SCOPES) -> dict[str, Any]:
    """The whole authorization-code flow with PKCE; the token response."""
    verifier, challenge = pkce()
    redirect_uri = "http://127.0.0.1:53682"
    params = authorize_params(redirect_uri, challenge, scope)
    query = browser_code(server, username, params)
    assert query["state"] == [params["state"]]
    response = token(
        server,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def start_device(server: Server, scope: str = RATTLER_SCOPES) -> dict[str, Any]:
    with cli(server) as http:
        response = http.post("/oauth/device_authorization", data={"client_id": "rattler", "scope": scope})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def approve_device(server: Server, username: str, user_code: str, decision: str = "allow") -> httpx.Response:
    with sign_in(server, username) as browser:
        page = browser.get("/oauth/device", params={"user_code": user_code})
        assert page.status_code == 200, page.text
        consent = browser.post("/oauth/device", data={"csrf_token": csrf_of(page), "user_code": user_code})
        fields = consent_fields(consent)
        return browser.post("/oauth/device/decide", data={**fields, "decision": decision})


def device_flow(server: Server, username: str, scope: str = RATTLER_SCOPES) -> dict[str, Any]:
    """The device flow: start, approve on the device page, poll as a client honouring the interval."""
    started = start_device(server, scope)
    assert approve_device(server, username, started["user_code"]).status_code == 200
    time.sleep(started["interval"])
    response = token(server, grant_type=DEVICE_GRANT, device_code=started["device_code"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def write_auth_file(path: Path, server: Server, tokens: dict[str, Any], *, expires_at: int) -> None:
    """Store the credential as `pixi auth login --oauth` does (rattler's OAuth variant)."""
    credential = {
        "OAuth": {
            "access_token": tokens["access_token"],
            "refresh_token": tokens.get("refresh_token"),
            "expires_at": expires_at,
            "token_endpoint": f"{server.url}/oauth/token",
            "revocation_endpoint": f"{server.url}/oauth/revoke",
            "client_id": "rattler",
        }
    }
    path.write_text(json.dumps({urlsplit(server.url).hostname: credential}))


def read_auth_file(path: Path, server: Server) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(path.read_text())[urlsplit(server.url).hostname]["OAuth"]
    return stored
