"""The fast path in front of the whole FastAPI application, and its hook for the HTTP server."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool
from starlette.types import Receive, Scope, Send

from taipan.indexing.artifacts import Body, Streamed
from taipan.services import Services
from taipan.web.auth import strip_token_path
from taipan.web.fastpath.answers import SEND_CHUNK, FastIndex, Learn, Reply
from taipan.web.fastpath.targets import Target, parse
from taipan.web.observe import UNMATCHED, log_access
from taipan.web.proxies import ForwardedMiddleware

log = logging.getLogger(__name__)

SAFE = frozenset({"GET", "HEAD"})


class FastIndexMiddleware:
    """In front of the whole FastAPI application (taipan.web.app.create_app wraps it): what
    it answers goes through no middleware, no routing and no dependency injection.

    It reads the path as the middlewares inside it would give it to the router (a trusted
    proxy's forwarded client, then without a ``/conda`` or ``/t/<key>`` prefix), counts
    what it answers in the request metrics (not in the latency histogram: its answers take
    microseconds) and writes their access log lines when that log is on. Anything it does
    not answer goes on with the scope as it came, so every other request meets the
    middlewares exactly as before.

    :meth:`answer_now` is the same path for an HTTP server that can write a whole answer
    itself (taipan.web.server does, before it would start an ASGI task for the request).
    """

    def __init__(self, app: Starlette, trusted_proxies: str = "", access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        self._forwarded = ForwardedMiddleware(app, trusted_proxies) if trusted_proxies else None
        self._fast: FastIndex | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._handle(scope, receive, send):
            await self.app(scope, receive, send)

    def answer_now(self, scope: Scope) -> tuple[int, bytes, bytes] | None:
        """The status, header lines and body of the answer, if it can be given without awaiting
        anything (its body is then at most SEND_CHUNK bytes); None: call the application."""
        fast = self._for()
        if fast is None:
            return None
        client = scope.get("client")
        key = (scope["method"], scope["path"], client[0] if client else None, tuple(scope["headers"]))
        memo = fast.recall(key)
        if memo is not None:
            ask, reply = _Ask(fast, memo.seen, memo.target), memo.reply
        else:
            found = self._answer_now(scope)
            if found is None:
                return None
            ask, reply = found
            fast.remember(key, ask.seen, ask.target, reply)
        assert isinstance(reply.body, bytes)  # (answer_now answers with small bodies only)
        ask.answered(reply.status, "server", self.access_log)
        return reply.status, reply.head.wire, reply.body

    def _answer_now(self, scope: Scope) -> tuple[_Ask, Reply] | None:
        ask = self._ask(scope)
        try:
            reply = None if ask is None else ask.fast.answer_now(ask.seen, ask.target)
        except Exception:  # the application answers; it logs what it meets
            _failed(ask)
            return None
        return None if ask is None or reply is None else (ask, reply)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer ``scope`` (or let the application answer and learn from it); False: not for here."""
        ask = self._ask(scope)
        try:
            answer = None if ask is None else await ask.fast.answer(ask.seen, ask.target)
        except Exception:  # the general path answers; it logs what it meets
            _failed(ask)
            return False
        if ask is None:
            return False
        if isinstance(answer, Reply):
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.head.headers})
            await _send_body(send, answer.body)
            ask.answered(answer.status, "asgi", self.access_log)
            return True
        if isinstance(answer, Learn):
            await ask.fast.learn(self.app, scope, receive, send, answer)
            return True
        return False

    def _ask(self, scope: Scope) -> _Ask | None:
        """The fast path, the scope as the router would see it and the file it names; None: not for here."""
        if scope["type"] != "http" or scope["method"] not in SAFE or scope.get("query_string"):
            return None
        if scope.get("root_path"):
            return None
        seen = self._forwarded.resolve(scope) if self._forwarded is not None else scope
        seen = strip_token_path(seen)
        target = parse(seen["path"])
        if target is None:
            return None
        fast = self._for()
        return None if fast is None else _Ask(fast, seen, target)

    def _for(self) -> FastIndex | None:
        app = self.app  # its state holds the services (from startup on), its router the routes
        svc: Services | None = getattr(app.state, "services", None)
        if svc is None:
            return None
        fast = self._fast
        if fast is None or fast.svc is not svc:
            if svc.changes is None:
                return None
            fast = self._fast = FastIndex(svc, svc.changes, app.router)
        return fast


@dataclass
class _Ask:
    """A request for the fast path: who answers, the scope as the router would see it, the file."""

    fast: FastIndex
    seen: Scope
    target: Target
    started: float = field(default_factory=time.perf_counter)

    def answered(self, status: int, via: str, access_log: bool) -> None:
        route = getattr(self.seen.get("route"), "path", None) or UNMATCHED
        self.fast.count(self.seen["method"], route, status, via)
        if access_log:
            log_access(self.seen, route, status, time.perf_counter() - self.started)


def _failed(ask: _Ask | None) -> None:
    assert ask is not None  # (only asking the fast path raises)
    log.exception("fast path failed for %s; answering on the general path", ask.seen["path"])


async def _send_body(send: Send, body: Body) -> None:
    if isinstance(body, bytes) and len(body) <= SEND_CHUNK:
        await send({"type": "http.response.body", "body": body})
        return
    async for piece in _pieces(body):  # the socket's buffer holds a piece, never a copy of it all
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _pieces(body: Body) -> AsyncIterator[bytes]:
    if isinstance(body, Streamed):  # decompressed in a thread, a chunk at a time
        return iterate_in_threadpool(body.chunks())
    return _slices(body)


async def _slices(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), SEND_CHUNK):
        yield body[start : start + SEND_CHUNK]
