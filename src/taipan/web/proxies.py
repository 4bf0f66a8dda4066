"""Who the client is behind a reverse proxy, believed only from proxies the settings name.

``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are headers anyone can
send. By default no proxy is trusted, so the address that counts failed sign-ins and goes
into the audit log is the TCP peer's, whatever the headers say. With ``trusted_proxies``
set, a request from one of them has its client address taken from ``X-Forwarded-For`` (the
nearest address that is not itself a trusted proxy, reading from the right), its scheme
from ``X-Forwarded-Proto``, and its ``Host`` header from ``X-Forwarded-Host`` (the value the
nearest proxy set, i.e. the last; ignored unless it is a host[:port]), so every URL derived
from the request names the host the client used. The HTTP server itself is told to believe
nothing (``taipan serve`` turns uvicorn's own proxy headers off), so this is the one place.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from taipan.settings import parse_trusted_proxies

HOST_PORT = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
"""A host name, IPv4 address or bracketed IPv6 address, with an optional port."""
MAX_HOST = 261  # 255 for the name, ':' and five digits


def is_host(value: str) -> bool:
    """Whether a Host-like header value is a host[:port] (and so may go into a URL we answer with)."""
    return len(value) <= MAX_HOST and HOST_PORT.fullmatch(value) is not None


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
        if scope["type"] == "http":
            scope = self.resolve(scope)
        await self.app(scope, receive, send)

    def resolve(self, scope: Scope) -> Scope:
        """``scope`` with the client, scheme and host a trusted proxy says it forwarded for."""
        client = scope.get("client")
        if client and self._trusted(client[0]):
            return self._forwarded(scope, client)
        return scope

    def _forwarded(self, scope: Scope, client: tuple[str, int]) -> Scope:
        chain: list[str] = []
        proto = None
        forwarded_host = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chain += [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
            elif name == b"x-forwarded-host":
                forwarded_host = value.decode("latin-1").split(",")[-1].strip()
        changed = dict(scope)
        if chain:
            host = next((hop for hop in reversed(chain) if not self._trusted(hop)), chain[0])
            changed["client"] = (host, 0)
        if proto in ("http", "https"):
            changed["scheme"] = proto
        if forwarded_host and is_host(forwarded_host):
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            changed["headers"] = [(b"host", forwarded_host.encode("latin-1")), *headers]
        return changed
