"""Request heads are bounded on the server itself: size, field count and the time to send them.

One client sending a huge header, or a header a byte at a time, must get a 4xx and lose
its connection, while every other client is answered meanwhile.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import Server

# On the SQLite pass only (heads are bounded by the HTTP server, before any database or storage is involved).
pytestmark = pytest.mark.backend_independent

MIB = 1024 * 1024
WAIT = 60  # seconds a test waits for an answer before it calls the server stuck


def connect(server: Server) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


def statuses(response: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]


def huge_header(size: int) -> Iterator[bytes]:
    yield b"GET /health/live HTTP/1.1\r\nHost: taipan\r\nX-Huge: "
    for _ in range(size // MIB):
        yield b"a" * MIB
    yield b"\r\n\r\n"


def send_ignoring_reset(sock: socket.socket, chunks: Iterator[bytes]) -> None:
    """Send until the server stops reading (it may, once it has refused)."""
    try:
        for chunk in chunks:
            sock.sendall(chunk)
    except OSError:  # reset or broken pipe: the server closed, as it should
        pass


def answered(server: Server) -> int:
    """What another client gets meanwhile (a generous timeout: this asserts an answer, not its speed)."""
    return httpx.get(f"{server.url}/health/live", timeout=WAIT).status_code


@pytest.mark.parametrize("size", [MIB, 96 * MIB], ids=["1MiB", "96MiB"])
def test_a_huge_header_is_refused_and_others_are_answered_meanwhile(server: Server, size: int) -> None:
    with connect(server) as sock:
        sender = threading.Thread(target=send_ignoring_reset, args=(sock, huge_header(size)))
        sender.start()
        try:
            assert answered(server) == 200
            response = read_until_closed(sock)
        finally:
            sender.join(WAIT)
    assert status_of(response) == 431, response[:300]
    assert b"longer than 65536 bytes" in response
    assert answered(server) == 200


def test_a_long_request_line_is_refused(server: Server) -> None:
    with connect(server) as sock:
        send_ignoring_reset(sock, iter([b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: taipan\r\n\r\n"]))
        response = read_until_closed(sock)
    assert status_of(response) == 414, response[:300]


def test_too_many_header_fields_are_refused(server: Server) -> None:
    fields = b"".join(b"X-Field-%d: x\r\n" % n for n in range(150))
    with connect(server) as sock:
        send_ignoring_reset(sock, iter([b"GET /health/live HTTP/1.1\r\nHost: taipan\r\n" + fields + b"\r\n"]))
        response = read_until_closed(sock)
    assert status_of(response) == 431
    assert b"more than 100 header fields" in response


def test_heads_within_the_limits_are_served_on_one_connection(server: Server) -> None:
    cookies = {f"c{n}": "v" * 4000 for n in range(10)}  # 40 KiB of header, under 64 KiB
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        for _ in range(3):  # keep-alive: each request's head is counted afresh
            assert http.get("/health/live", headers={"X-Big": "b" * 8000, **cookies}).status_code == 200


def test_pipelined_requests_and_a_body_in_the_heads_chunk_are_not_counted_as_head(server: Server) -> None:
    """A body sent with its head (one write, one read) is no header: 100 KiB of JSON is accepted."""
    name = "pipelined-body"
    body = b'{"name": "%s"' % name.encode() + b" " * 100_000 + b"}"
    post = (
        b"POST /api/v1/channels HTTP/1.1\r\nHost: taipan\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (server.token.encode(), len(body))
    ) + body
    get = b"GET /health/live HTTP/1.1\r\nHost: taipan\r\n\r\n"
    last = b"GET /health/live HTTP/1.1\r\nHost: taipan\r\nConnection: close\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(post + get * 20 + last)
        response = read_until_closed(sock)
    assert statuses(response) == [201] + [200] * 21


STRICT = {"TAIPAN_REQUEST_HEAD_TIMEOUT": "1", "TAIPAN_MAX_REQUEST_HEAD": "4096", "TAIPAN_KEEP_ALIVE_TIMEOUT": "1"}


@pytest.fixture(scope="module")
def strict_server(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """A 1-second head timeout and a 4 KiB head."""
    with server_factory(STRICT) as srv:
        yield srv


def test_a_header_trickle_is_cut_off_and_holds_no_worker(strict_server: Server) -> None:
    """One byte of header every quarter second: 408 and closed, while others are answered."""
    with connect(strict_server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: taipan\r\nX-Slow: ")
        response = b""
        for _ in range(4 * WAIT):
            try:
                sock.sendall(b"s")
            except OSError:
                break
            assert answered(strict_server) == 200
            if select.select([sock], [], [], 0.25)[0]:
                response = read_until_closed(sock)
                break
    assert status_of(response) == 408, response[:300]
    assert b"not complete within 1 seconds" in response


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(strict_server: Server) -> None:
    get = b"GET /health/live HTTP/1.1\r\nHost: taipan\r\n\r\n"
    with connect(strict_server) as sock, sock.makefile("rb") as stream:
        for _ in range(3):  # each within the timeout of the last answer, though not of the first
            sock.sendall(get)
            assert stream.readline().startswith(b"HTTP/1.1 200")
            head = list(iter(stream.readline, b"\r\n"))
            stream.read(next(int(line.split(b":")[1]) for line in head if line.lower().startswith(b"content-length:")))
            time.sleep(0.6)
        started = time.monotonic()
        assert stream.read() == b""
        assert time.monotonic() - started < 1.0  # closed 1 s after the last answer


def test_a_connection_that_says_nothing_is_closed(strict_server: Server) -> None:
    with connect(strict_server) as sock:
        assert read_until_closed(sock) == b""


def test_head_limits_come_from_the_settings_in_every_worker(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({**STRICT, "TAIPAN_WORKERS": "2"}) as srv:
        for _ in range(6):  # connections are spread over both workers
            with connect(srv) as sock:
                send_ignoring_reset(sock, huge_header(MIB))
                response = read_until_closed(sock)
            assert status_of(response) == 431
            assert b"longer than 4096 bytes" in response
        assert httpx.get(f"{srv.url}/health/live", headers={"X-Fits": "f" * 2000}, timeout=WAIT).status_code == 200
