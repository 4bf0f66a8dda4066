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
"""

from __future__ import annotations

import asyncio
import logging
import sys
from asyncio import TimerHandle
from contextlib import suppress
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from taipan.settings import Settings
from taipan.web.request_head import HeadLimits, HeadMeter, Refusal

LINGER = 2.0  # seconds a refused connection keeps reading (and dropping) what the client still sends
WORKER_HEALTHCHECK = 30
"""Seconds a worker may leave the supervisor's ping unanswered before it is killed as hung
(uvicorn's 5 s killed workers still importing the app on a busy host, over and over)."""
logger = logging.getLogger("uvicorn.error")


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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport the same way
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

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
        super().on_headers_complete()

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
