"""The HTTP server ``taipan serve`` runs: uvicorn with httptools, and bounds on request heads.

uvicorn's httptools protocol reads a request head of any size for as long as the client
takes, so one request could stall a process (see :mod:`taipan.web.request_head`) and a
client sending a byte a second held its connection forever. :class:`BoundedHttpToolsProtocol`
keeps the fast parser and adds what it lacks:

- a head past its size limits is answered 414 or 431 before the parser sees it;
- a head not complete within ``timeout`` seconds of its first byte (or of the connection's
  start, for a client that connects and says nothing) is answered 408;

each time the connection is then closed, after a short linger that lets the client read
the answer while it is still sending (closing with its bytes unread would reset the
connection and lose the answer).

It also lets the application answer a request at once, before uvicorn would build an
ASGI cycle and start a task for it: an application (or one it wraps, as ``.app``) with an
``answer_now(scope)`` method (taipan.web.fastpath) is asked first for each GET or HEAD
on a kept-alive HTTP/1.1 connection with nothing else in flight; the answer it returns
(status, header lines, a small body) is written in one piece. That is most of what a
channel server is asked (index files revalidated, shards), and half its cost was the
ASGI machinery and a second write for the body.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from asyncio import TimerHandle
from collections.abc import Callable
from contextlib import suppress
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from taipan.settings import Settings
from taipan.web.request_head import HeadLimits, HeadMeter, Refusal

LINGER = 2.0  # seconds a refused connection keeps reading (and dropping) what the client still sends
WORKER_HEALTHCHECK = 30
"""Seconds a worker may leave the supervisor's ping unanswered before it is killed as hung
(uvicorn's 5 s killed workers still importing the app on a busy host, over and over)."""
logger = logging.getLogger("uvicorn.error")


AnswerNow = Callable[[dict[str, Any]], tuple[int, bytes, bytes] | None]
"""An application's ``answer_now``: the status, header lines ("name: value\\r\\n" each) and
body of its answer to a scope; None: run the application."""


class _Answered:
    """The cycle of a request answered at once: complete, so uvicorn's callbacks leave it be."""

    response_complete = True

    class message_event:  # noqa: N801  # uvicorn sets it when the connection goes
        @staticmethod
        def set() -> None:
            pass


ANSWERED = _Answered()


def _answerer(app: Any) -> AnswerNow | None:
    """The ``answer_now`` of ``app`` or of an application it wraps, or None."""
    for _ in range(4):
        found = getattr(app, "answer_now", None)
        if callable(found):
            return found  # type: ignore[no-any-return]  # (found by name on an ASGI app)
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class _DefaultHeaders:
    """uvicorn's default headers (date, server) as header lines, made again when uvicorn renews them."""

    source: object = None
    wire = b""

    @classmethod
    def of(cls, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not cls.source:
            cls.source, cls.wire = headers, b"".join(b"%s: %s\r\n" % pair for pair in headers)
        return cls.wire


def head_limits(settings: Settings) -> HeadLimits:
    return HeadLimits(
        max_request_line=settings.max_request_line,
        max_head=settings.max_request_head,
        max_fields=settings.max_header_fields,
        timeout=settings.request_head_timeout,
    )


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the head limits each connection's protocol reads.

    It is handed (pickled) to every worker process, so the limits travel with it.
    """

    def __init__(self, app: Any, *, limits: HeadLimits, **options: Any) -> None:
        super().__init__(app, http=BoundedHttpToolsProtocol, **options)
        self.head_limits = limits


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One connection: uvicorn's httptools protocol behind a :class:`HeadMeter` and a head timer."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = config.head_limits if isinstance(config, ServerConfig) else None
        if limits is None:
            raise TypeError("BoundedHttpToolsProtocol needs a ServerConfig (it carries the head limits)")
        self.meter = HeadMeter(limits)
        self.head_timer: TimerHandle | None = None
        self.refused = False
        self.answer_now = _answerer(config.loaded_app)
        self.idle_since: float | None = None  # when the last answer ended; None while a request is on

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport the same way
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)

    # Keep-alive: one timer per connection that looks again when it fires, instead of
    # uvicorn's new timer per answer (cancelled by the next request: a sixth of a 304's cost).

    def _unset_keepalive_if_required(self) -> None:
        self.idle_since = None  # a request is arriving: not idle (an armed timer will see it)

    def on_response_complete(self) -> None:
        """uvicorn's, but the keep-alive timer is armed only if none is."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            self.idle_since = None
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self.idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_ends)

    def _keep_alive_ends(self) -> None:
        self.timeout_keep_alive_task = None
        if self.idle_since is None:
            return  # a request is on; its answer arms the timer again
        left = self.idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_ends)
        else:
            self.timeout_keep_alive_handler()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # lingering: what the client still sends is dropped
        if not self.meter.complete:
            refusal = self.meter.feed(data)
            if refusal is not None:
                self._refuse(refusal)
                return
            if not self.meter.complete:
                self._start_head_timer()  # (a head sent whole, the usual case, needs no timer)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.meter.finish()
        self._stop_head_timer()
        if self.answer_now is not None and self._answered_now(self.answer_now):
            return
        super().on_headers_complete()

    def _answered_now(self, answer_now: AnswerNow) -> bool:
        """Write the application's immediate answer to this request, if it has one."""
        parser = self.parser
        method = parser.get_method()
        if (
            self.pipeline
            or self._responding()
            or self.expect_100_continue
            or self.flow.write_paused
            or self.root_path
            or method not in (b"GET", b"HEAD")
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
        ):
            return False
        url = httptools.parse_url(self.url)
        if url.query or b"%" in url.path or not url.path.isascii():
            return False  # (the application reads those)
        path = url.path.decode("ascii")
        scope = self.scope
        scope["method"] = method.decode("ascii")
        scope["path"] = path
        scope["raw_path"] = url.path
        scope["query_string"] = b""
        answer = answer_now(scope)  # type: ignore[arg-type]  # uvicorn's HTTPScope is a dict
        if answer is None:
            return False
        status, lines, body = answer
        self.transport.write(
            b"".join((STATUS_LINE[status], _DefaultHeaders.of(self.server_state.default_headers), lines, b"\r\n", body))
        )
        self.cycle = ANSWERED  # type: ignore[assignment]  # the parser's later callbacks see it complete
        self.on_response_complete()
        return True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.meter.reset()  # the next request's head; the keep-alive timer waits for its first byte

    def _start_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.meter.limits.timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.meter.complete:
            return
        if self._responding():
            self._start_head_timer()  # a pipelined head waits behind a response still being sent
            return
        if not self.meter.started:
            self.transport.close()  # connected, or kept alive, and said nothing
            return
        self._refuse(Refusal(408, f"request head not complete within {self.meter.limits.timeout:g} seconds"))

    def _responding(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse(self, refusal: Refusal) -> None:
        self._stop_head_timer()
        self.refused = True
        logger.warning("Refused a request from %s: %s.", _address(self.client), refusal.reason)
        if self._responding():
            self.transport.close()  # an answer now would land inside the response being sent
            return
        body = f"{refusal.reason}\n".encode()
        phrase = HTTPStatus(refusal.status).phrase
        self.transport.write(
            f"HTTP/1.1 {refusal.status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


def serve(app: Any, settings: Settings, **options: Any) -> None:
    """Run the server until it is stopped: one process, or ``settings.workers`` of them.

    ``app`` is the application, or for several workers (each builds its own) the import
    string of a factory; ``options`` are uvicorn's.
    """
    workers = settings.workers
    if workers > 1 and not isinstance(app, str):
        raise TypeError("several workers need the import string of an application factory")
    config = ServerConfig(
        app,
        limits=head_limits(settings),
        host=settings.host,
        port=settings.port,
        workers=workers,
        factory=workers > 1,
        timeout_keep_alive=settings.keep_alive_timeout,
        **{"timeout_worker_healthcheck": WORKER_HEALTHCHECK, **options},
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    with suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
