"""Request metrics and the access log, as one ASGI middleware.

Requests are labelled by route template (``/{channel}/{subdir}/{filename}``), never by
the path itself, so the number of series stays bounded whatever clients ask for. It sits
inside TokenPathMiddleware: ``/t/<key>`` is already gone from the path it sees. The access
log writes the path without its query string, and with anything shaped like a key masked
too (a key pasted elsewhere in a URL), so no key reaches a log line or a label.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taipan.accounts.keys import PREFIX
from taipan.metrics import Metrics

log = logging.getLogger("taipan.access")
UNMATCHED = "(unmatched)"
_KEY_SHAPED = re.compile(re.escape(PREFIX) + r"[^/]*", re.IGNORECASE)


def loggable_path(path: str) -> str:
    """``path`` as the access log may show it: key-shaped segments masked."""
    return _KEY_SHAPED.sub(PREFIX + "***", path)


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics: Metrics = scope["app"].state.services.metrics
        status = 500  # unless a response starts: an unhandled error becomes a 500 further out
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"]
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(elapsed)
            if self.access_log:
                log_access(scope, route, status, elapsed)


def log_access(scope: Scope, route: str, status: int, elapsed: float) -> None:
    """One access log line (the path with key-shaped segments masked, no query string)."""
    method = scope["method"]
    path = loggable_path(scope["path"])
    log.info(
        "%s %s %d %.1fms",
        method,
        path,
        status,
        elapsed * 1000,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "client": (scope.get("client") or ("", 0))[0],
        },
    )
