"""Who the client is behind a reverse proxy, believed only from proxies the settings name.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are headers anyone can send. By default no
proxy is trusted, so the address that counts failed sign-ins and goes into the audit log
is the TCP peer's, whatever the headers say. With ``trusted_proxies`` set, a request from
one of them has its client address taken from ``X-Forwarded-For`` (the nearest address
that is not itself a trusted proxy, reading from the right) and its scheme from
``X-Forwarded-Proto``. The HTTP server itself is told to believe nothing
(``taipan serve`` turns uvicorn's own proxy headers off), so this is the one place.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from taipan.settings import parse_trusted_proxies


class ForwardedMiddleware:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.any, self.networks = parse_trusted_proxies(trusted)

    def _trusted(self, host: str) -> bool:
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and self._trusted(client[0]):
            scope = self._forwarded(scope, client)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope, client: tuple[str, int]) -> Scope:
        chain: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chain += [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        changed = dict(scope)
        if chain:
            host = next((hop for hop in reversed(chain) if not self._trusted(hop)), chain[0])
            changed["client"] = (host, 0)
        if proto in ("http", "https"):
            changed["scheme"] = proto
        return changed
