"""The upload edge as a whole (docs/architecture.md, "The upload edge"): limits that bound
the request, malformed multipart bodies, the anaconda ticket checked first, uploads cut off
past ``upload_timeout``, crash leftovers swept at start and while running, and the URL
anaconda-client is told to POST to. After every refusal nothing is left in staging."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from taipan.storage.base import STAGING_PREFIX, Writer
from tests.support import accounts, packages
from tests.support.packages import Spec
from tests.support.server import Server, database_url, running_server
from tests.support.ui import csrf_of, sign_in
from tests.support.upload import upload_multipart

B = "edge-boundary-5c2e"
MIB = 1024 * 1024


def leftovers(server: Server) -> list[str]:
    """Staged objects and partial writes (a folder's .tmp files, a bucket's unfinished uploads)."""
    return sorted(
        key for key in server.stored_files() if key.startswith((STAGING_PREFIX, ".tmp/", "(multipart upload)"))
    )


def wait_until_clean(server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while leftovers(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(server) == []


def part(name: str, data: bytes, filename: str | None = None, headers: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{B}\r\nContent-Disposition: {disposition}\r\n{headers}\r\n".encode() + data + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{B}--\r\n".encode()


def exchange(server: Server, head: str, body: bytes, timeout_s: float = 60) -> tuple[int, bytes]:
    """Send a request head and the start of its body, and read the answer without sending more.

    A server that waits for the rest of the body (instead of refusing it early) times out here."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head_bytes, _, rest = answer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head_bytes.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(head_bytes.split(b" ")[1]), rest


def post_head(path: str, length: int, content_type: str, extra: str = "") -> str:
    return f"POST {path} HTTP/1.1\nHost: x\nContent-Type: {content_type}\nContent-Length: {length}\n{extra}"


# --- servers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """Uploads of at most 100 000 bytes, behind a proxy at 10.1.2.3 (so not this test's address)."""
    with server_factory({"TAIPAN_MAX_UPLOAD_SIZE": "100000", "TAIPAN_TRUSTED_PROXIES": "10.1.2.3"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def quick(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """Uploads cut off after a second (leftovers swept after two), behind a proxy on 127.0.0.1."""
    with server_factory({"TAIPAN_UPLOAD_TIMEOUT": "1", "TAIPAN_TRUSTED_PROXIES": "127.0.0.1"}) as srv:
        yield srv


def new_channel(server: Server) -> str:
    name = f"edge-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        assert http.post("/api/v1/channels", json={"name": name}).status_code == 201
    return name


# --- limits bound the request (F8) and the text fields in total (F3) ----------------------


def test_max_upload_size_bounds_all_file_parts_together(small: Server, tmp_path: Path) -> None:
    channel = new_channel(small)
    paths = [packages.build(Spec(f"part{i}", files={"share/blob": os.urandom(40_000)}), tmp_path) for i in range(3)]
    assert all(p.stat().st_size < 100_000 for p in paths)
    with small.client() as http:
        files = [("files", (p.name, p.read_bytes())) for p in paths]
        quetz = http.post(f"/api/channels/{channel}/files/", files=files)
        assert quetz.status_code == 413, quetz.text
        assert "limit of 100000 bytes" in quetz.json()["error"]
        body = form(*(part("file", p.read_bytes(), p.name) for p in paths))
        prefix = http.post(
            f"/api/v1/upload/{channel}", content=body, headers={"Content-Type": f"multipart/form-data; boundary={B}"}
        )
        assert prefix.status_code == 413, prefix.text
        assert http.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"] == {}
    assert leftovers(small) == []


def test_text_fields_are_bounded_in_total(server: Server, tmp_path: Path) -> None:
    channel = new_channel(server)
    pkg = packages.build(Spec("fields"), tmp_path)
    fields = [part(f"note{i}", b"x" * 400 * 1024) for i in range(3)]  # 1.2 MiB: each far under a part limit
    body = form(*fields, part("file", pkg.read_bytes(), pkg.name))
    with server.client() as http:
        response = http.post(
            f"/api/v1/upload/{channel}", content=body, headers={"Content-Type": f"multipart/form-data; boundary={B}"}
        )
    assert response.status_code == 413, response.text
    assert "text fields are larger than the limit" in response.json()["error"]
    assert leftovers(server) == []


# --- malformed multipart bodies: a 400 on every multipart route (F9) ----------------------

GOOD_PART = f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="m-1.0-0.conda"\r\n\r\n'.encode()
MALFORMED = {
    "garbage": (f"multipart/form-data; boundary={B}", b"this is not a multipart body at all"),
    "wrong-boundary": (f"multipart/form-data; boundary={B}", GOOD_PART.replace(B.encode(), b"other") + b"abc"),
    "bad-part-header": (
        f"multipart/form-data; boundary={B}",
        f"--{B}\r\nno colon here\r\n\r\nabc\r\n--{B}--\r\n".encode(),
    ),
    "huge-part-header": (
        f"multipart/form-data; boundary={B}",
        f"--{B}\r\nX-Big: ".encode() + b"a" * 200_000 + f"\r\n\r\nabc\r\n--{B}--\r\n".encode(),
    ),
    "truncated-in-a-part": (f"multipart/form-data; boundary={B}", GOOD_PART + b"abc"),
    "no-closing-boundary": (f"multipart/form-data; boundary={B}", f"\r\n--{B}".encode()),
    "empty": (f"multipart/form-data; boundary={B}", b""),
    "no-boundary": ("multipart/form-data", GOOD_PART + b"abc\r\n--" + B.encode() + b"--\r\n"),
}


@pytest.fixture(scope="module")
def ui_owner(server: Server) -> tuple[str, str]:
    user = accounts.new_user(server, "edge-ui")
    key = accounts.new_key(server, user)
    return user, accounts.new_channel(server, key, private=False, prefix="edge-ui")


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("route", ["prefix", "quetz", "anaconda", "web-form"])
def test_malformed_multipart_is_a_400(server: Server, ui_owner: tuple[str, str], route: str, case: str) -> None:
    content_type, body = MALFORMED[case]
    headers = {"Content-Type": content_type}
    channel = ui_owner[1]
    if route == "web-form":
        with sign_in(server, ui_owner[0]) as http:
            csrf_of(http.get(f"/channels/{channel}/upload"))
            response = http.post(f"/channels/{channel}/upload", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "text/html" in response.headers["content-type"]
    else:
        path = {
            "prefix": f"/api/v1/upload/{channel}",
            "quetz": f"/api/channels/{channel}/files/",
            "anaconda": "/api/anaconda/upload",
        }[route]
        with server.client(token=None if route == "anaconda" else "admin") as http:
            response = http.post(path, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert len(response.text) > 20, "the answer says what is wrong"
    assert leftovers(server) == []


# --- the anaconda POST: the ticket first, before anything else is held (F3) ---------------


def test_anaconda_post_without_a_ticket_is_refused_after_a_few_kib(server: Server) -> None:
    """The body promises 50 MiB of text; the server answers without waiting for more than a few KiB."""
    start = f'--{B}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n'.encode() + b"a" * 20_000
    head = post_head("/api/anaconda/upload", 50 * MIB, f"multipart/form-data; boundary={B}")
    status, body = exchange(server, head, start)
    assert status == 400
    assert b"ticket" in body
    assert b"<Error>" in body


def test_anaconda_post_with_a_forged_ticket_is_refused_at_the_ticket(server: Server) -> None:
    start = part("ticket", b"forged") + GOOD_PART + b"a" * 1000
    head = post_head("/api/anaconda/upload", 50 * MIB, f"multipart/form-data; boundary={B}")
    status, body = exchange(server, head, start)
    assert status == 403
    assert b"ticket" in body
    assert leftovers(server) == []


# --- the time bound, and leftovers of crashes (F13) ----------------------------------------


def test_an_upload_slower_than_the_timeout_is_cut_off(quick: Server) -> None:
    channel = new_channel(quick)
    head = post_head(
        f"/api/v1/upload/{channel}",
        MIB,
        "application/octet-stream",
        f"X-File-Name: slow-1.0-0.conda\nAuthorization: Bearer {quick.token}\n",
    )
    status, body = exchange(quick, head, b"x" * 1000)  # and never the rest
    assert status == 408
    assert b"longer than the limit of 1 seconds" in body
    wait_until_clean(quick)


def plant_leftovers(server: Server) -> Writer:
    """What a process killed mid-upload leaves: a staged object, and a partial write."""
    storage = server.storage()
    staged = storage.writer(f"{STAGING_PREFIX}{uuid.uuid4().hex}")
    staged.write(b"a staged file nobody ingested")
    staged.close()
    partial = storage.writer(f"{STAGING_PREFIX}{uuid.uuid4().hex}")
    partial.write(b"x" * (9 * MIB))  # past an S3 part, so a bucket holds an unfinished upload
    assert leftovers(server)
    return partial  # never closed nor aborted, as after kill -9


def test_leftovers_are_swept_while_running(quick: Server) -> None:
    partial = plant_leftovers(quick)
    wait_until_clean(quick)  # older than 2 x upload_timeout: the periodic sweep removes them
    partial.abort()  # harmless once swept


def test_a_crash_mid_transfer_leaves_nothing_after_the_next_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "crash"
    sent = threading.Event()
    release = threading.Event()

    def stalled_body() -> Iterator[bytes]:
        for _ in range(9):
            yield b"x" * MIB
        sent.set()
        release.wait(60)
        yield b"x"

    with database_url(data_dir) as db_url:
        with running_server(data_dir, db_url) as srv:
            channel = new_channel(srv)

            def upload() -> None:
                try:
                    with srv.client() as http:
                        http.post(
                            f"/api/v1/upload/{channel}",
                            content=stalled_body(),
                            headers={"X-File-Name": "crash-1.0-0.conda"},
                        )
                except httpx.HTTPError:
                    pass  # the server is killed under it

            sender = threading.Thread(target=upload)
            sender.start()
            assert sent.wait(60)
            deadline = time.monotonic() + 60
            while not leftovers(srv) and time.monotonic() < deadline:
                time.sleep(0.1)
            srv.process.kill()  # kill -9 mid-transfer
            srv.process.wait()
            release.set()
            sender.join()
            assert leftovers(srv), "a partial write is left behind by the crash"
        time.sleep(3)  # older than 2 x the next server's upload_timeout
        with running_server(data_dir, db_url, {"TAIPAN_UPLOAD_TIMEOUT": "1"}) as again:
            wait_until_clean(again)


# --- where anaconda-client is told to POST -------------------------------------------------


def post_url(server: Server, headers: dict[str, str], tmp_path: Path) -> str:
    user = accounts.new_user(server, "edge-ana")
    key = accounts.new_key(server, user)
    pkg = packages.build(Spec("edge-ana"), tmp_path)
    response = httpx.post(
        f"{server.url}/api/stage/{user}/edge-ana/1.0/noarch/{pkg.name}",
        json={"channels": []},
        headers={"Authorization": f"token {key}", **headers},
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["post_url"]
    return url


def test_post_url_is_the_host_the_client_used(server: Server, tmp_path: Path) -> None:
    url = post_url(server, {"Host": "pkgs.example.org:8443"}, tmp_path)
    assert url == "http://pkgs.example.org:8443/api/anaconda/upload"


def test_post_url_believes_forwarded_proto_from_a_trusted_proxy(quick: Server, tmp_path: Path) -> None:
    url = post_url(quick, {"Host": "pkgs.example.org", "X-Forwarded-Proto": "https"}, tmp_path)
    assert url == "https://pkgs.example.org/api/anaconda/upload"


def test_post_url_ignores_forwarded_proto_from_anyone_else(small: Server, tmp_path: Path) -> None:
    url = post_url(small, {"Host": "pkgs.example.org", "X-Forwarded-Proto": "https"}, tmp_path)
    assert url == "http://pkgs.example.org/api/anaconda/upload"


def test_post_url_believes_forwarded_host_from_a_trusted_proxy(quick: Server, tmp_path: Path) -> None:
    headers = {"Host": "127.0.0.1:8000", "X-Forwarded-Host": "pkgs.example.org:8443", "X-Forwarded-Proto": "https"}
    url = post_url(quick, headers, tmp_path)
    assert url == "https://pkgs.example.org:8443/api/anaconda/upload"
    # Through two proxies the nearest one's value (the last) counts.
    url = post_url(quick, {"Host": "127.0.0.1", "X-Forwarded-Host": "evil.example, pkgs.example.org"}, tmp_path / "2")
    assert url == "http://pkgs.example.org/api/anaconda/upload"


def test_post_url_ignores_a_forwarded_host_that_is_no_host(quick: Server, tmp_path: Path) -> None:
    for i, bad in enumerate(("evil.example/path", "user@evil.example", "evil.example:port", "a b")):
        url = post_url(quick, {"Host": "pkgs.example.org", "X-Forwarded-Host": bad}, tmp_path / str(i))
        assert url == "http://pkgs.example.org/api/anaconda/upload", bad


def test_post_url_ignores_forwarded_host_from_anyone_else(small: Server, tmp_path: Path) -> None:
    url = post_url(small, {"Host": "pkgs.example.org", "X-Forwarded-Host": "evil.example"}, tmp_path)
    assert url == "http://pkgs.example.org/api/anaconda/upload"


@pytest.mark.backend_independent  # a URL made from the settings
def test_post_url_is_public_url_when_the_operator_set_it(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_PUBLIC_URL": "https://conda.example.org/"}) as srv:
        url = post_url(srv, {"Host": "pkgs.example.org"}, tmp_path)
    assert url == "https://conda.example.org/api/anaconda/upload"


# --- the web form ----------------------------------------------------------------------------


def test_web_form_leaves_nothing_staged_after_an_error(small: Server, tmp_path: Path) -> None:
    user = accounts.new_user(small, "edge-form")
    key = accounts.new_key(small, user)
    channel = accounts.new_channel(small, key, private=False, prefix="edge-form")
    first = packages.build(Spec("form-a"), tmp_path)
    big = packages.build(Spec("form-big", files={"share/blob": os.urandom(150_000)}), tmp_path)
    last = packages.build(Spec("form-c"), tmp_path)
    with sign_in(small, user) as http:
        token = csrf_of(http.get(f"/channels/{channel}/upload"))
        files = [("file", (p.name, p.read_bytes())) for p in (first, big, last)]
        response = http.post(f"/channels/{channel}/upload", data={"csrf_token": token}, files=files)
        assert response.status_code == 413
        bad_csrf = http.post(f"/channels/{channel}/upload", data={"csrf_token": "nope"}, files=files[:1])
        assert bad_csrf.status_code == 403
    assert leftovers(small) == []
    with httpx.Client(base_url=small.url) as anonymous:
        assert anonymous.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"] == {}


def test_prefix_extra_file_parts_are_not_left_staged(server: Server, tmp_path: Path) -> None:
    channel = new_channel(server)
    pkg = packages.build(Spec("extra"), tmp_path)
    body = form(part("file", pkg.read_bytes(), pkg.name), part("file", b"another file", "other.conda"))
    with server.client() as http:
        response = http.post(
            f"/api/v1/upload/{channel}", content=body, headers={"Content-Type": f"multipart/form-data; boundary={B}"}
        )
        assert response.status_code == 200, response.text
        assert upload_multipart(http, channel, pkg).status_code == 409
    assert leftovers(server) == []
