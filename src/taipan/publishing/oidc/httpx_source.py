"""The JwksSource adapter that asks issuers over HTTP: OpenID discovery, then the JWKS.

This is the one module below the entry points allowed to import httpx (see the
import-linter contracts in pyproject.toml): fetching an issuer's keys is infrastructure,
like storage, and has no other way to happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from taipan.errors import Unavailable

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 1024 * 1024  # real key sets are a few KiB
TIMEOUT_S = 10.0


class HttpJwksSource:
    """Fetch ``{issuer}/.well-known/openid-configuration``, check it names the issuer, then its ``jwks_uri``.

    Redirects are not followed: issuers answer these URLs directly, and a redirect is the
    easiest way to point the server somewhere it was not configured to go.
    """

    def __init__(self, timeout: float = TIMEOUT_S, transport: httpx.BaseTransport | None = None) -> None:
        self._timeout = timeout
        self._transport = transport

    def fetch(self, issuer: str) -> Mapping[str, Any]:
        # A client per fetch: fetches are rare (hourly, or on a key rotation), and nothing is left to close.
        with httpx.Client(timeout=self._timeout, follow_redirects=False, transport=self._transport) as http:
            discovery = _json(http, issuer.rstrip("/") + DISCOVERY_PATH)
            if str(discovery.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
                raise Unavailable(f"the discovery document of {issuer} names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise Unavailable(f"the discovery document of {issuer} has no usable jwks_uri")
            jwks = _json(http, jwks_uri)
        if not isinstance(jwks.get("keys"), list):
            raise Unavailable(f"the key set of {issuer} has no 'keys' list")
        return jwks


def _json(http: httpx.Client, url: str) -> dict[str, Any]:
    try:
        with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise Unavailable(f"{url} answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise Unavailable(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach {url}: {exc}") from exc
    try:
        document = orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise Unavailable(f"{url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise Unavailable(f"{url} did not answer a JSON object")
    return document
