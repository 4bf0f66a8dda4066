"""The index fast path (taipan.web.fastpath): same answers as the general path, read-your-writes,
credentials checked by the general path and remembered only until anything is committed."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from tests.support import accounts, packages
from tests.support.packages import Spec
from tests.support.server import Server, backend
from tests.support.upload import upload_raw

INDEX_FILES = ["repodata.json", "repodata.json.zst", "repodata.json.bz2", "repodata_shards.msgpack.zst"]
# Headers that differ between any two answers, whoever makes them.
PER_RESPONSE = {"date", "server"}


def fast_answers(server: Server, via: str = "") -> float:
    """How many requests the fast path has answered (its own counter on /metrics); ``via``:
    only those the HTTP server wrote itself (``server``) or the ASGI middleware sent (``asgi``)."""
    with httpx.Client(base_url=server.url) as http:
        text = http.get("/metrics").text
    labels = rf'[^}}]*via="{via}"[^}}]*' if via else r"[^}]*"
    return sum(float(v) for v in re.findall(rf"^taipan_index_fast_answers_total\{{{labels}\}} (\S+)$", text, re.M))


def same_answer(fast: httpx.Response, general: httpx.Response) -> None:
    assert fast.status_code == general.status_code
    assert fast.content == general.content
    strip = [(k, v) for k, v in fast.headers.multi_items() if k not in PER_RESPONSE]
    assert strip == [(k, v) for k, v in general.headers.multi_items() if k not in PER_RESPONSE]


@pytest.fixture
def published(server: Server, channel: str, pkgdir: Path) -> Path:
    path = packages.build(Spec("quick", "1.0", "0", subdir="linux-64"), pkgdir)
    with server.client() as http:
        assert upload_raw(http, channel, path).status_code == 200
    return path


@pytest.mark.parametrize("name", INDEX_FILES)
def test_fast_answers_are_the_general_paths_answers(server: Server, channel: str, published: Path, name: str) -> None:
    # A query string sends a request down the general path (the router), which is the reference.
    url = f"/{channel}/linux-64/{name}"
    before = fast_answers(server)
    with httpx.Client(base_url=server.url) as http:
        first = http.get(url)
        same_answer(first, http.get(url + "?general"))
        same_answer(http.head(url), http.head(url + "?general"))
        conditionals = [{"If-None-Match": first.headers["etag"]}, {"If-Modified-Since": first.headers["last-modified"]}]
        for conditional in conditionals:
            fast = http.get(url, headers=conditional)
            assert fast.status_code == 304
            same_answer(fast, http.get(url + "?general", headers=conditional))
        same_answer(http.get(url, headers={"If-None-Match": '"x"'}), http.get(url + "?general"))
    assert fast_answers(server) - before >= 5


def test_fast_shard_answers_are_the_general_paths_answers(server: Server, channel: str, published: Path) -> None:
    import msgpack
    import zstandard

    with httpx.Client(base_url=server.url) as http:
        raw = http.get(f"/{channel}/linux-64/repodata_shards.msgpack.zst").content
        index = msgpack.unpackb(zstandard.decompress(raw))
        url = f"/{channel}/linux-64/shards/{index['shards']['quick'].hex()}.msgpack.zst"
        before = fast_answers(server)
        first = http.get(url)
        same_answer(first, http.get(url + "?general"))
        same_answer(http.head(url), http.head(url + "?general"))
        etag = {"If-None-Match": first.headers["etag"]}
        same_answer(http.get(url, headers=etag), http.get(url + "?general", headers=etag))
        assert fast_answers(server) - before == 3
        missing = f"/{channel}/linux-64/shards/{'0' * 64}.msgpack.zst"
        same_answer(http.get(missing), http.get(missing + "?general"))


def read_answer(stream: BinaryIO, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer off a connection: status, headers, body (by its Content-Length; none to a HEAD)."""
    status = int(stream.readline().split()[1])
    headers = {}
    while line := stream.readline().strip():
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, b"" if head else stream.read(int(headers.get("content-length", 0)))


def test_the_server_writes_fast_answers_whole_and_in_order(server: Server, channel: str, published: Path) -> None:
    url = f"/{channel}/linux-64/repodata_shards.msgpack.zst"
    with httpx.Client(base_url=server.url) as http:
        reference = http.get(url + "?general")
        http.get(url)  # the view's state and bytes are in this worker now (and maybe not in another)
    host, port = server.url.removeprefix("http://").split(":")
    etag = reference.headers["etag"]
    pipelined = (
        f"GET {url} HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
        f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {url}?general HTTP/1.1\r\nHost: x\r\n\r\n"
    ).encode()
    # SQLite's change check is a read of mapped memory, so the server writes answers itself;
    # PostgreSQL's is a shared round trip, awaited in the ASGI middleware.
    via = "server" if backend() == "sqlite" else "asgi"
    before = fast_answers(server, via)
    for _ in range(3):  # (a worker that has not seen the view yet answers through the application first)
        with socket.create_connection((host, int(port))) as conn, conn.makefile("rb") as stream:
            conn.sendall(pipelined)
            answers = [read_answer(stream, head=n == 2) for n in range(4)]
        assert [a[0] for a in answers] == [304, 200, 200, 200]
        assert answers[0][1]["etag"] == etag
        assert answers[0][2] == b""
        assert answers[1][2] == answers[3][2] == reference.content
        assert answers[2][2] == b""
        assert answers[2][1]["content-length"] == str(len(reference.content))
    assert fast_answers(server, via) - before >= 3
    # HTTP/1.0 and "Connection: close" are the application's to answer (it closes the connection).
    for request in (f"GET {url} HTTP/1.0\r\n\r\n", f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        with socket.create_connection((host, int(port))) as conn, conn.makefile("rb") as stream:
            conn.sendall(request.encode())
            status, _headers, body = read_answer(stream)
            assert (status, body) == (200, reference.content)
            assert stream.read() == b""  # closed after the answer


def test_every_change_is_seen_by_the_very_next_fetch(server: Server, channel: str, pkgdir: Path) -> None:
    with server.client() as http:
        for n in range(3):
            path = packages.build(Spec("ryw", f"{n}.0", "0", subdir="noarch"), pkgdir)
            etag = http.get(f"/{channel}/noarch/repodata.json").headers["etag"]
            assert upload_raw(http, channel, path).status_code == 200
            again = http.get(f"/{channel}/noarch/repodata.json", headers={"If-None-Match": etag})
            assert again.status_code == 200
            assert path.name in again.json()["packages.conda"]
        gone = http.delete(f"/api/v1/delete/{channel}/noarch/{path.name}")
        assert gone.status_code in (200, 204), gone.text
        assert path.name not in http.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"]
        made_private = http.patch(f"/api/v1/channels/{channel}", json={"private": True})
        assert made_private.status_code == 200, made_private.text
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get(f"/{channel}/noarch/repodata.json").status_code == 401


def test_a_revoked_key_stops_working_at_once(server: Server) -> None:
    owner = accounts.new_user(server, "fast")
    key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, key, private=True, prefix="fastpriv")
    # The shard index: building repodata.json.zst publishes its blocks (a commit, which ends
    # the reuse of every credential check, as any commit does) some time after the answer.
    url = f"/{channel}/noarch/repodata_shards.msgpack.zst"
    with httpx.Client(base_url=server.url) as http:
        assert http.get(url, headers=accounts.bearer(key)).status_code == 200  # learnt from the general path
        before = fast_answers(server)
        for form in (accounts.bearer(key), accounts.bearer(key)):
            assert http.get(url, headers=form).status_code == 200
        assert fast_answers(server) - before == 2  # the second and third came from the fast path
        key_id = http.get("/api/v1/tokens", headers=accounts.bearer(key)).json()[0]["id"]
        revoked = http.delete(f"/api/v1/tokens/{key_id}", headers=accounts.basic(owner, accounts.PASSWORD))
        assert revoked.status_code == 204
        assert http.get(url, headers=accounts.bearer(key)).status_code == 401
        assert http.get(f"/t/{key}{url}").status_code == 401


def test_private_channels_still_look_missing(server: Server) -> None:
    owner = accounts.new_user(server, "fast")
    key = accounts.new_key(server, owner)
    channel = accounts.new_channel(server, key, private=True, prefix="fastpriv")
    other = accounts.new_key(server, accounts.new_user(server, "other"))
    with httpx.Client(base_url=server.url) as http:
        assert http.get(f"/{channel}/noarch/repodata.json", headers=accounts.bearer(key)).status_code == 200
        for headers in ({}, accounts.bearer(other), accounts.bearer("tpn_wrong")):
            hidden = http.get(f"/{channel}/noarch/repodata.json", headers=headers)
            absent = http.get("/no-such-fast-channel/noarch/repodata.json", headers=headers)
            assert hidden.status_code == absent.status_code
            assert hidden.text == absent.text.replace("no-such-fast-channel", channel)


def builds(server: Server, kind: str) -> float:
    with httpx.Client(base_url=server.url) as http:
        text = http.get("/metrics").text
    found = re.search(rf'^taipan_index_build_duration_seconds_count\{{kind="{re.escape(kind)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_bz2_is_never_built_for_a_zst_or_shard_request(server: Server, channel: str, pkgdir: Path) -> None:
    before = builds(server, "repodata.json.bz2")
    with server.client() as http:
        for n in range(2):
            path = packages.build(Spec("lazy", f"{n}.0", "0", subdir="noarch"), pkgdir)
            assert upload_raw(http, channel, path).status_code == 200
            assert http.get(f"/{channel}/noarch/repodata.json.zst").status_code == 200
            assert http.get(f"/{channel}/noarch/repodata_shards.msgpack.zst").status_code == 200
            assert http.get(f"/{channel}/noarch/repodata.json").status_code == 200
        assert builds(server, "repodata.json.bz2") == before
        assert http.get(f"/{channel}/noarch/repodata.json.bz2").status_code == 200
    assert builds(server, "repodata.json.bz2") == before + 1
