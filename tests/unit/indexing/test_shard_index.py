"""The shard index is patched from each revision's pointer changes, and comes out byte-identical
to one built from scratch, whatever sequence of changes led there."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taipan.accounts import keys
from taipan.accounts.principal import Principal
from taipan.channels.service import create_channel
from taipan.conda.hashing import StreamHasher
from taipan.conda.shards import encode_shard_index
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.db.models import ShardPointer
from taipan.errors import Conflict, NotFound
from taipan.indexing import artifacts
from taipan.indexing.artifacts import IndexFiles
from taipan.packages.ingest import Staged, check_package, record_files
from taipan.packages.labels import change_labels, promote
from taipan.packages.remove import delete_file
from taipan.storage.memory import MemoryStorage
from tests.support import packages
from tests.support.packages import Spec
from tests.support.server import database_url

NAMES = ("alpha", "beta", "gamma")
VERSIONS = ("1.0", "2.0")
LABELS = ("main", "dev")
INDEX: Final = "repodata_shards.msgpack.zst"
_counter = itertools.count()


class World:
    def __init__(self, tmp: Path, url: str) -> None:
        self.db = Database(url)
        migrate.upgrade(self.db)
        keys.reset_admin_token(self.db, tmp / "token")
        self.admin: Principal = keys.principal_for_key(self.db, (tmp / "token").read_text().strip())
        self.storage = MemoryStorage()
        # Two builds of each file: the second, with other bytes, replaces the first with force.
        self.pkgs = {
            (n, v, variant): packages.build(Spec(n, v, files={"f": f"{n}{v}{variant}".encode()}), tmp / f"{variant}")
            for n in NAMES
            for v in VERSIONS
            for variant in (0, 1)
        }

    def upload(self, channel: str, name: str, version: str, variant: int, label: str) -> None:
        path = self.pkgs[(name, version, variant)]
        key = f".staging/{next(_counter)}"
        data = path.read_bytes()
        hasher = StreamHasher()
        hasher.update(data)
        writer = self.storage.writer(key)
        writer.write(data)
        writer.close()
        checked = check_package(self.storage, Staged(key, hasher.result()), path.name, max_size=10**9, max_ratio=100)
        record_files(self.db, self.storage, channel, [(checked, key)], True, "tester", labels=[label])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """On the database backend under test (TAIPAN_TEST_DB), in process: no server."""
    tmp = tmp_path_factory.mktemp("shard-index")
    with database_url(tmp) as url:
        made = World(tmp, url)
        yield made
        made.db.dispose()


filename = st.tuples(st.sampled_from(NAMES), st.sampled_from(VERSIONS))
op = st.one_of(
    st.tuples(st.just("upload"), filename, st.integers(0, 1), st.sampled_from(LABELS)),
    st.tuples(st.just("delete"), filename),
    st.tuples(st.just("label"), filename, st.sampled_from(LABELS), st.booleans()),
    st.tuples(st.just("promote"), st.sampled_from(LABELS), st.sampled_from(LABELS), st.booleans()),
)


def apply(world: World, channel: str, step: tuple) -> None:  # type: ignore[type-arg]
    kind = step[0]
    try:
        if kind == "upload":
            (name, version), variant, label = step[1], step[2], step[3]
            world.upload(channel, name, version, variant, label)
        elif kind == "delete":
            name, version = step[1]
            delete_file(world.db, world.storage, world.admin, channel, "noarch", f"{name}-{version}-0.conda")
        elif kind == "label":
            (name, version), label, add = step[1], step[2], step[3]
            labels = {"add": (label,), "remove": ()} if add else {"add": (), "remove": (label,)}
            filename = f"{name}-{version}-0.conda"
            change_labels(
                world.db, world.admin, channel, "noarch", filename, add=labels["add"], remove=labels["remove"]
            )
        else:
            _, source, target, move = step
            if source != target:
                promote(world.db, world.admin, channel, source, target, move=move)
    except (NotFound, Conflict):
        pass  # a file that is not there, or its last label removed: refused, nothing changes


def scratch(world: World, channel: str, label: str) -> bytes:
    fresh = IndexFiles(world.db, 10**8, 3)
    state = fresh.state(channel, "noarch", label)
    assert state is not None
    return fresh.build(state, INDEX)[1]


def from_pointers(world: World, channel: str, label: str) -> bytes:
    state = IndexFiles(world.db, 10**8, 3).state(channel, "noarch", label)
    assert state is not None
    with world.db.read() as session:
        rows = session.query(ShardPointer.name, ShardPointer.digest).filter_by(subdir_id=state.id, label=label)
        return encode_shard_index("noarch", {name: digest for name, digest in rows})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=12))
def test_patched_shard_index_is_the_one_built_from_scratch(world: World, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    kept = IndexFiles(world.db, 10**8, 3)  # lives through the whole sequence, as a server's does
    for step in steps:
        apply(world, channel, step)
        for label in LABELS:
            state = kept.state(channel, "noarch", label)
            assert state is not None
            patched = kept.build(state, INDEX)[1]
            assert patched == scratch(world, channel, label) == from_pointers(world, channel, label), step


def test_a_change_patches_and_does_not_read_every_name(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    world.upload(channel, "alpha", "1.0", 0, "main")
    kept = IndexFiles(world.db, 10**8, 3)
    state = kept.state(channel, "noarch", "main")
    assert state is not None
    kept.build(state, INDEX)

    def every_name(*_args: object) -> None:
        raise AssertionError("the shard index was read whole")

    monkeypatch.setattr(artifacts, "_pointers", every_name)
    world.upload(channel, "beta", "1.0", 0, "main")
    world.upload(channel, "alpha", "1.0", 1, "main")  # forced replace
    delete_file(world.db, world.storage, world.admin, channel, "noarch", "beta-1.0-0.conda")
    change_labels(world.db, world.admin, channel, "noarch", "alpha-1.0-0.conda", add=("dev",))
    state = kept.state(channel, "noarch", "main")
    assert state is not None
    patched = kept.build(state, INDEX)[1]
    monkeypatch.undo()
    assert patched == scratch(world, channel, "main")


def test_a_pointer_change_log_is_not_served_as_a_shard(world: World) -> None:
    from taipan.indexing.state import log_digest

    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    world.upload(channel, "alpha", "1.0", 0, "main")
    index = IndexFiles(world.db, 10**8, 3)
    state = index.state(channel, "noarch", "main")
    assert state is not None
    assert index.shard(state, log_digest(state.revision)) is None
