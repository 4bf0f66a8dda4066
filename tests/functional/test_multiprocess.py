"""Several ``taipan serve`` processes sharing one database and one storage (on the PostgreSQL
pass: one PostgreSQL database and one S3 bucket), as replicas behind a load balancer are.

Uploads through any process are visible through every other the moment they return; 60
concurrent uploads spread over three processes all land; and a process killed with
SIGKILL in the middle of an upload, or while many uploads are committing, leaves no
partial file where anyone looks and no index file that is invalid or incomplete.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgpack
import pytest
import zstandard

from tests.support import accounts, packages
from tests.support.packages import Spec
from tests.support.server import Server, database_url, running_server
from tests.support.upload import upload_multipart, upload_raw

SUBDIR = "linux-64"
pytestmark = pytest.mark.slow
# Processes of one SQLite file each see one worker: they publish their blocks only when told.
SHARED: dict[str, str | None] = {"TAIPAN_INDEX_SHARE_BLOCKS": "true"}


@dataclass
class Cluster:
    servers: list[Server]
    data_dir: Path
    db_url: str

    def spare(self, env: dict[str, str | None] | None = None) -> contextlib.AbstractContextManager[Server]:
        """One more process on the same database and storage, to be killed."""
        return running_server(self.data_dir, self.db_url, {**SHARED, **(env or {})})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three processes started at once on one empty database: they also race to create the schema."""
    data_dir = tmp_path_factory.mktemp("cluster")
    with database_url(data_dir) as db_url, contextlib.ExitStack() as stack:
        starting = [running_server(data_dir, db_url, SHARED) for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            servers = list(pool.map(lambda cm: cm.__enter__(), starting))
        for cm in starting:
            stack.push(cm.__exit__)
        yield Cluster(servers, data_dir, db_url)


@pytest.fixture
def mp_channel(cluster: Cluster) -> str:
    name = f"mp-{uuid.uuid4().hex[:8]}"
    with cluster.servers[0].client() as http:
        assert http.post("/api/v1/channels", json={"name": name}).status_code == 201
    return name


# --- what every process must show --------------------------------------------------------


def index_view(server: Server, channel: str) -> dict[str, set[str]]:
    """The files each index file of the subdir lists, parsed and checked for agreement."""
    with server.client(token=None) as http:
        raw = http.get(f"/{channel}/{SUBDIR}/repodata.json")
        assert raw.status_code == 200, raw.text
        repodata = raw.json()
        zst = http.get(f"/{channel}/{SUBDIR}/repodata.json.zst")
        assert zstandard.ZstdDecompressor().decompressobj().decompress(zst.content) == raw.content
        assert zst.headers["etag"].split("-")[:2] == raw.headers["etag"].split("-")[:2]  # same epoch and revision
        index = msgpack.unpackb(
            zstandard.decompress(http.get(f"/{channel}/{SUBDIR}/repodata_shards.msgpack.zst").content)
        )
        sharded: set[str] = set()
        for name, digest in index["shards"].items():
            shard_bytes = http.get(f"/{channel}/{SUBDIR}/shards/{digest.hex()}.msgpack.zst").content
            assert hashlib.sha256(shard_bytes).digest() == digest
            shard = msgpack.unpackb(zstandard.decompress(shard_bytes))
            files = set(shard["packages"]) | set(shard["packages.conda"])
            assert {r["name"] for r in [*shard["packages"].values(), *shard["packages.conda"].values()]} == {name}
            sharded |= files
    listed = set(repodata["packages"]) | set(repodata["packages.conda"])
    return {"repodata.json": listed, "shards": sharded}


def assert_every_process_lists(cluster: Cluster, channel: str, expected: set[str]) -> None:
    for server in cluster.servers:
        view = index_view(server, channel)
        assert view["repodata.json"] == expected, server.url
        assert view["shards"] == expected, server.url


def send(server: Server, channel: str, path: Path, multipart: bool = False) -> int:
    with server.client() as http:
        return (upload_multipart if multipart else upload_raw)(http, channel, path).status_code


# --- tests ----------------------------------------------------------------------------------


def test_sixty_concurrent_uploads_through_three_processes_all_land(
    cluster: Cluster, mp_channel: str, pkgdir: Path
) -> None:
    # Twenty names, three builds each: writers in different processes race on the same shard.
    specs = [
        Spec(f"mp{i % 20}", f"1.{i}", "h0_0", subdir=SUBDIR, fmt=".conda" if i % 4 else ".tar.bz2") for i in range(60)
    ]
    paths = [packages.build(spec, pkgdir) for spec in specs]
    with ThreadPoolExecutor(60) as pool:
        statuses = list(
            pool.map(lambda i: send(cluster.servers[i % 3], mp_channel, paths[i], multipart=bool(i % 2)), range(60))
        )
    assert statuses == [200] * 60
    assert_every_process_lists(cluster, mp_channel, {spec.filename for spec in specs})
    # Same database state, same bytes and ETag from every process.
    answers = set()
    for server in cluster.servers:
        with server.client(token=None) as http:
            response = http.get(f"/{mp_channel}/{SUBDIR}/repodata.json")
            answers.add((response.headers["etag"], hashlib.sha256(response.content).hexdigest()))
    assert len(answers) == 1


def test_an_upload_through_one_process_is_visible_through_the_others_at_once(
    cluster: Cluster, mp_channel: str, pkgdir: Path
) -> None:
    clients = [server.client(token=None) for server in cluster.servers]
    try:
        expected: set[str] = set()
        for i in range(9):
            spec = Spec("ryw-mp", f"0.{i}", "h0_0", subdir=SUBDIR)
            for http in clients:  # every process has the current revision cached
                for kind in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst"):
                    http.get(f"/{mp_channel}/{SUBDIR}/{kind}")
            writer = cluster.servers[i % 3]
            assert send(writer, mp_channel, packages.build(spec, pkgdir)) == 200
            expected.add(spec.filename)
            for server in cluster.servers:
                if server is not writer:
                    view = index_view(server, mp_channel)
                    assert spec.filename in view["repodata.json"], (i, server.url)
                    assert view["shards"] == view["repodata.json"] == expected
                    with server.client(token=None) as http:
                        package = http.get(f"/{mp_channel}/{SUBDIR}/{spec.filename}", follow_redirects=True)
                        assert package.status_code == 200
                        assert package.content == (pkgdir / spec.filename).read_bytes()
    finally:
        for http in clients:
            http.close()


INDEX_KINDS = ("repodata.json", "repodata.json.zst", "repodata.json.bz2", "repodata_shards.msgpack.zst")


def listed_by(http: httpx.Client, prefix: str, kind: str, etags: dict[str, str], headers: dict[str, str]) -> set[str]:
    """The files one index file lists, fetched conditionally on the ETag this reader last saw
    (a stale 304 would fail: the file just uploaded must be in the answer)."""
    conditional = {**headers, **({"If-None-Match": etags[kind]} if kind in etags else {})}
    response = http.get(f"{prefix}/{kind}", headers=conditional)
    assert response.status_code == 200, (kind, response.status_code)
    etags[kind] = response.headers["etag"]
    if kind == "repodata_shards.msgpack.zst":
        index = msgpack.unpackb(zstandard.decompress(response.content))
        files: set[str] = set()
        for digest in index["shards"].values():
            shard = http.get(f"{prefix}/shards/{digest.hex()}.msgpack.zst", headers=headers)
            assert shard.status_code == 200
            decoded = msgpack.unpackb(zstandard.decompress(shard.content))
            files |= set(decoded["packages"]) | set(decoded["packages.conda"])
        return files
    raw = {
        "repodata.json": lambda b: b,
        "repodata.json.zst": zstandard.decompress,
        "repodata.json.bz2": bz2.decompress,
    }[kind](response.content)
    repodata = json.loads(raw)
    return set(repodata["packages"]) | set(repodata["packages.conda"])


@pytest.mark.parametrize("private", [False, True], ids=["public", "private-with-key"])
def test_read_your_writes_on_every_index_file_under_concurrent_uploads(
    cluster: Cluster, pkgdir: Path, private: bool
) -> None:
    """Writers upload through all three processes at once; right after each 2xx, every other
    process lists the file (and every file answered before) in every index file and shard."""
    owner = accounts.new_user(cluster.servers[0], "ryw")
    key = accounts.new_key(cluster.servers[0], owner)
    channel = accounts.new_channel(cluster.servers[0], key, private=private, prefix="ryw")
    # The reader's credential: a key (two forms) on the private channel, none on the public one.
    forms = [(accounts.bearer(key), ""), ({}, f"/t/{key}")] if private else [({}, "")]
    writers, per_writer = 3, 5
    answered: set[str] = set()
    lock = threading.Lock()
    etags: dict[tuple[int, int, str], str] = {}

    def write(w: int) -> None:
        for i in range(per_writer):
            path = packages.build(Spec(f"ryw{w}", f"1.{i}", "h0_0", subdir=SUBDIR), pkgdir / f"w{w}")
            with httpx.Client(base_url=cluster.servers[w % 3].url, headers=accounts.bearer(key), timeout=60) as http:
                assert upload_raw(http, channel, path).status_code == 200
            with lock:
                answered.add(path.name)
                must = set(answered)  # every upload answered by now
            for s, server in enumerate(cluster.servers):
                if s == w % 3:
                    continue
                headers, token = forms[(w + i + s) % len(forms)]
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    for kind in INDEX_KINDS:
                        seen = etags.setdefault((w, s, kind), "")
                        mine = {kind: seen} if seen else {}
                        listed = listed_by(http, f"{token}/{channel}/{SUBDIR}", kind, mine, headers)
                        etags[(w, s, kind)] = mine[kind]
                        assert must <= listed, (server.url, kind, sorted(must - listed))

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    assert len(answered) == writers * per_writer
    # Quiet again: every process serves the same bytes under the same ETag, for every file.
    for kind in INDEX_KINDS:
        answers = set()
        for server in cluster.servers:
            with httpx.Client(base_url=server.url, headers=accounts.bearer(key)) as http:
                response = http.get(f"/{channel}/{SUBDIR}/{kind}")
                answers.add((response.headers["etag"], hashlib.sha256(response.content).hexdigest()))
        assert len(answers) == 1, kind


def test_a_process_killed_mid_upload_leaves_no_partial_file(cluster: Cluster, mp_channel: str) -> None:
    storage = cluster.servers[0].storage()
    before = {info.key for info in storage.list("")}
    sent, killed = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        # 13 MiB, then a pause in which the process dies: an S3 multipart part went up already.
        for i in range(24):
            yield os.urandom(1024 * 1024)
            if i == 12:
                sent.set()
                killed.wait(60)

    with cluster.spare() as victim:

        def upload() -> None:
            headers = {"X-File-Name": "big-1.0-h0_0.conda", "Content-Type": "application/octet-stream"}
            with contextlib.suppress(httpx.HTTPError), victim.client() as http:
                http.post(f"/api/v1/upload/{mp_channel}", content=slow_body(), headers=headers)

        thread = threading.Thread(target=upload)
        thread.start()
        assert sent.wait(60)
        time.sleep(0.5)  # let the server take in what was sent
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        killed.set()
        thread.join(60)
    after = {info.key for info in storage.list("")}
    assert after == before, "a partial object became visible"
    for server in cluster.servers:
        with server.client(token=None) as http:
            assert http.get(f"/{mp_channel}/{SUBDIR}/big-1.0-h0_0.conda").status_code == 404
    for server in cluster.servers:
        with server.client(token=None) as http:
            assert http.get(f"/{mp_channel}/noarch/repodata.json").json()["packages.conda"] == {}
            assert http.get(f"/{mp_channel}/{SUBDIR}/repodata.json").status_code == 404  # never made


def _in_progress_updates(server: Server) -> float:
    with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=server.url, timeout=5) as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith('taipan_index_work_in_progress{work="update"}'):
                return float(line.split()[-1])
    return 0.0


def test_a_process_killed_while_uploads_commit_leaves_every_index_valid(
    cluster: Cluster, mp_channel: str, pkgdir: Path
) -> None:
    victim_specs = [Spec(f"kv{i % 6}", f"2.{i}", "h0_0", subdir=SUBDIR) for i in range(40)]
    other_specs = [Spec(f"ko{i % 3}", f"3.{i}", "h0_0", subdir=SUBDIR) for i in range(9)]
    victim_paths = [packages.build(spec, pkgdir) for spec in victim_specs]
    other_paths = [packages.build(spec, pkgdir) for spec in other_specs]
    storage = cluster.servers[0].storage()

    with cluster.spare() as victim, ThreadPoolExecutor(40) as pool:

        def to_victim(path: Path) -> int | None:
            try:
                return send(victim, mp_channel, path)
            except httpx.HTTPError:
                return None

        futures = [pool.submit(to_victim, path) for path in victim_paths]
        # Kill it once some uploads have committed, while others wait for (or hold) the subdir's lock.
        deadline, waiting = time.monotonic() + 60, 0.0
        while time.monotonic() < deadline and (waiting < 2 or sum(f.done() for f in futures) < 3):
            waiting = _in_progress_updates(victim)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        statuses = [future.result() for future in futures]
    assert waiting >= 2, "no index update was under way when the process was killed"
    assert any(status == 200 for status in statuses), "the kill came before any upload committed"
    answered = {path.name for path, status in zip(victim_paths, statuses, strict=True) if status == 200}
    assert len(answered) < len(victim_paths), "the kill came too late to interrupt anything"

    # The survivors carry on, on the same subdir (no lock was left behind).
    with ThreadPoolExecutor(9) as pool:
        statuses = list(pool.map(lambda i: send(cluster.servers[i % 3], mp_channel, other_paths[i]), range(9)))
    assert statuses == [200] * 9

    listed = index_view(cluster.servers[0], mp_channel)["repodata.json"]
    others = {spec.filename for spec in other_specs}
    assert others <= listed
    assert answered <= listed, "an upload that was answered 200 is missing"
    assert listed <= others | {spec.filename for spec in victim_specs}
    assert_every_process_lists(cluster, mp_channel, listed)
    # Every listed file is stored, whole; a file stored but not listed can only be one the
    # killed process had moved into place but not committed (never answered; see docs).
    stored = {info.key.rsplit("/", 1)[1]: info.size for info in storage.list(f"{mp_channel}/{SUBDIR}/")}
    sizes = {path.name: path.stat().st_size for path in [*victim_paths, *other_paths]}
    assert listed <= set(stored)
    assert all(stored[name] == sizes[name] for name in stored)
    assert set(stored) - listed <= {p.name for p in victim_paths} - answered


# --- kill -9 at each crash point of a write (taipan.packages.objects.crash_point) --------


def assert_every_served_file_matches_its_record(cluster: Cluster, channel: str) -> set[str]:
    """Each process serves each listed file (streamed or redirected) with its record's sha256 and size."""
    listed: set[str] = set()
    for server in cluster.servers:
        with server.client(token=None) as http:
            repodata = http.get(f"/{channel}/{SUBDIR}/repodata.json").json()
            records = {**repodata["packages"], **repodata["packages.conda"]}
            for filename, record in records.items():
                body = http.get(f"/{channel}/{SUBDIR}/{filename}", follow_redirects=True)
                assert body.status_code == 200, (server.url, filename)
                assert len(body.content) == record["size"], (server.url, filename)
                assert hashlib.sha256(body.content).hexdigest() == record["sha256"], (server.url, filename)
            listed = set(records)
    return listed


def _upload_to_dying(victim: Server, channel: str, path: Path, force: bool) -> None:
    with contextlib.suppress(httpx.HTTPError), victim.client() as http:
        response = upload_raw(http, channel, path, force=force)
        raise AssertionError(f"the process should have died, it answered {response.status_code}")
    victim.process.wait(60)
    assert victim.process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_kill_9_during_a_forced_replace_never_serves_bytes_unlike_their_record(
    cluster: Cluster, mp_channel: str, pkgdir: Path, point: str
) -> None:
    # The same file name, other bytes: the replacement differs in size and content.
    old = packages.build(Spec("crash", "1.0", "h0_0", subdir=SUBDIR), pkgdir / "old")
    new_files = {"share/crash/data": os.urandom(5000)}
    new = packages.build(Spec("crash", "1.0", "h0_0", subdir=SUBDIR, files=new_files), pkgdir / "new")
    assert send(cluster.servers[0], mp_channel, old) == 200
    with cluster.spare({"TAIPAN_TEST_CRASH_AT": point}) as victim:
        _upload_to_dying(victim, mp_channel, new, force=True)
    assert assert_every_served_file_matches_its_record(cluster, mp_channel) == {old.name}
    with cluster.servers[1].client(token=None) as http:
        served = http.get(f"/{mp_channel}/{SUBDIR}/{old.name}", follow_redirects=True).content
    assert served == (new if point == "after-commit" else old).read_bytes()
    # Replacing again (and again: the key alternates) still serves what the record says.
    for path in (old, new):
        with cluster.servers[2].client() as http:
            assert upload_raw(http, mp_channel, path, force=True).status_code == 200
        assert assert_every_served_file_matches_its_record(cluster, mp_channel) == {old.name}


def test_kill_9_before_a_new_file_commits_leaves_it_unserved(cluster: Cluster, mp_channel: str, pkgdir: Path) -> None:
    path = packages.build(Spec("crash-new", "1.0", "h0_0", subdir=SUBDIR), pkgdir)
    assert send(cluster.servers[0], mp_channel, packages.build(Spec("crash-seed", subdir=SUBDIR), pkgdir)) == 200
    with cluster.spare({"TAIPAN_TEST_CRASH_AT": "before-commit"}) as victim:
        _upload_to_dying(victim, mp_channel, path, force=False)
    assert path.name not in assert_every_served_file_matches_its_record(cluster, mp_channel)
    for server in cluster.servers:
        with server.client(token=None) as http:
            assert http.get(f"/{mp_channel}/{SUBDIR}/{path.name}").status_code == 404
    assert send(cluster.servers[1], mp_channel, path) == 200  # the same upload, sent again, lands
    assert path.name in assert_every_served_file_matches_its_record(cluster, mp_channel)
