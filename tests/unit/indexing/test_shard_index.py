"""The shard index and the blocks of repodata.json.zst are patched from each revision's change
log, and come out byte-identical to ones built from scratch, whatever sequence of changes led
there."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taipan.accounts import keys
from taipan.accounts.principal import Principal
from taipan.channels.service import create_channel
from taipan.conda.hashing import StreamHasher
from taipan.conda.repodata import Block, decompress, render_repodata
from taipan.conda.shards import encode_shard_index
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.db.models import FileLabel, IndexPiece, PackageFile, ShardPointer
from taipan.errors import Conflict, NotFound
from taipan.indexing import artifacts, blocks
from taipan.indexing.artifacts import IndexFiles
from taipan.packages.checks import Staged, check_package
from taipan.packages.ingest import record_files
from taipan.packages.labels import change_labels, promote
from taipan.packages.remove import delete_file
from taipan.storage.memory import MemoryStorage
from tests.support import packages
from tests.support.packages import Spec
from tests.support.server import database_url

NAMES = ("alpha", "beta", "gamma")
VERSIONS = ("1.0", "2.0")
FORMATS = (".conda", ".tar.bz2")
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
            (n, v, fmt, variant): packages.build(
                Spec(n, v, fmt=fmt, files={"f": f"{n}{v}{variant}".encode()}), tmp / f"{variant}"
            )
            for n in NAMES
            for v in VERSIONS
            for fmt in FORMATS
            for variant in (0, 1)
        }

    def upload(self, channel: str, name: str, version: str, variant: int, label: str, fmt: str = ".conda") -> None:
        path = self.pkgs[(name, version, fmt, variant)]
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


filename = st.tuples(st.sampled_from(NAMES), st.sampled_from(VERSIONS), st.sampled_from(FORMATS))
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
            (name, version, fmt), variant, label = step[1], step[2], step[3]
            world.upload(channel, name, version, variant, label, fmt)
        elif kind == "delete":
            name, version, fmt = step[1]
            delete_file(world.db, world.storage, world.admin, channel, "noarch", f"{name}-{version}-0{fmt}")
        elif kind == "label":
            (name, version, fmt), label, add = step[1], step[2], step[3]
            labels = {"add": (label,), "remove": ()} if add else {"add": (), "remove": (label,)}
            filename = f"{name}-{version}-0{fmt}"
            change_labels(
                world.db, world.admin, channel, "noarch", filename, add=labels["add"], remove=labels["remove"]
            )
        else:
            _, source, target, move = step
            if source != target:
                promote(world.db, world.admin, channel, source, target, move=move)
    except (NotFound, Conflict):
        pass  # a file that is not there, or its last label removed: refused, nothing changes


BLOCK_RECORDS = 2
"""Blocks of ~2 records, so that a dozen files make several blocks and cut points come and go."""


def scratch(world: World, channel: str, label: str, kind: artifacts.Kind = INDEX) -> bytes:
    fresh = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS, share=False)
    state = fresh.state(channel, "noarch", label)
    assert state is not None
    return fresh.build(state, kind)[1]


def rendered(world: World, channel: str, label: str) -> bytes:
    """repodata.json rendered whole from the label view, as before blocks."""
    state = IndexFiles(world.db, 10**8, 3).state(channel, "noarch", label)
    assert state is not None
    with world.db.read() as session:
        rows = (
            session.query(PackageFile.filename, PackageFile.record)
            .join(FileLabel, FileLabel.file_id == PackageFile.id)
            .filter(PackageFile.subdir_id == state.id, FileLabel.label == label)
            .order_by(PackageFile.filename)
        )
        return render_repodata("noarch", [(f, r) for f, r in rows])


def from_pointers(world: World, channel: str, label: str) -> bytes:
    state = IndexFiles(world.db, 10**8, 3).state(channel, "noarch", label)
    assert state is not None
    with world.db.read() as session:
        rows = session.query(ShardPointer.name, ShardPointer.digest).filter_by(subdir_id=state.id, label=label)
        return encode_shard_index("noarch", {name: digest for name, digest in rows})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=12))
def test_patched_index_files_are_the_ones_built_from_scratch(world: World, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    # Live through the whole sequence, as a server's processes do: ``kept`` builds and
    # publishes; ``peer`` loads what it publishes (the pieces it lacks), ``other`` skips
    # some revisions and builds or loads whatever is there when it asks.
    kept = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    peer = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    other = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    for n, step in enumerate(steps):
        apply(world, channel, step)
        for label in LABELS:
            state = kept.state(channel, "noarch", label)
            assert state is not None
            patched = kept.build(state, INDEX)[1]
            assert patched == scratch(world, channel, label) == from_pointers(world, channel, label), step
            zst = kept.build(state, "repodata.json.zst")[1]
            assert zst == scratch(world, channel, label, "repodata.json.zst"), step
            plain = kept.build(state, "repodata.json")[1]
            assert plain == decompress(zst), step
            assert orjson.loads(plain) == orjson.loads(rendered(world, channel, label)), step
            kept.settle()
            assert peer.build(state, "repodata.json.zst")[1] == zst, step
            if n % 2:
                assert other.build(state, "repodata.json.zst")[1] == zst, step
    for index in (kept, peer, other):
        index.close()


def test_a_process_loads_published_blocks_and_compresses_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    for name in NAMES:
        world.upload(channel, name, "1.0", 0, "main")
    builder = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    loader = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    state = builder.state(channel, "noarch", "main")
    assert state is not None
    builder.build(state, "repodata.json.zst")
    builder.settle()
    loader.build(state, "repodata.json.zst")  # all of it, loaded
    world.upload(channel, "alpha", "2.0", 0, "main")
    state = builder.state(channel, "noarch", "main")
    assert state is not None
    built = builder.build(state, "repodata.json.zst")[1]
    builder.settle()

    def no_compressing(*_args: object) -> None:
        raise AssertionError("a block was rendered again")

    monkeypatch.setattr(blocks, "render_block", no_compressing)
    loaded = loader.build(state, "repodata.json.zst")[1]
    monkeypatch.undo()
    assert loaded == built == scratch(world, channel, "main", "repodata.json.zst")
    with world.db.read() as session:  # one copy of each piece: the replaced ones went
        pieces = session.query(IndexPiece).filter_by(subdir_id=state.id, label="main").count()
    blocks_now = loader._blocks[(state.id, "main")].blocks
    assert pieces == sum((b.tar_bz2 is not None) + (b.conda is not None) for b in blocks_now)
    builder.close()
    loader.close()


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


def test_a_change_recompresses_its_block_and_reads_no_whole_view(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = f"c{next(_counter)}"
    create_channel(world.db, world.admin, channel)
    for name in NAMES:
        for version in VERSIONS:
            world.upload(channel, name, version, 0, "main")
    kept = IndexFiles(world.db, 10**8, 3, block_records=BLOCK_RECORDS)
    state = kept.state(channel, "noarch", "main")
    assert state is not None
    kept.build(state, "repodata.json.zst")

    def whole_view(*_args: object) -> None:
        raise AssertionError("the label view was read whole")

    before = {_digests(block) for block in kept._blocks[(state.id, "main")].blocks}
    monkeypatch.setattr(blocks, "_view", whole_view)
    world.upload(channel, "alpha", "1.0", 1, "main")  # forced replace
    delete_file(world.db, world.storage, world.admin, channel, "noarch", "beta-2.0-0.conda")
    world.upload(channel, "gamma", "1.0", 0, "main", ".tar.bz2")
    change_labels(world.db, world.admin, channel, "noarch", "alpha-2.0-0.conda", add=("dev",))  # not main's
    state = kept.state(channel, "noarch", "main")
    assert state is not None
    patched = kept.build(state, "repodata.json.zst")[1]
    monkeypatch.undo()
    assert patched == scratch(world, channel, "main", "repodata.json.zst")
    recompressed = [block for block in kept._blocks[(state.id, "main")].blocks if _digests(block) not in before]
    assert 1 <= len(recompressed) <= 6  # three files changed: their blocks (and a split's neighbour)
    assert len(kept._blocks[(state.id, "main")].blocks) > len(recompressed)


def _digests(block: Block) -> tuple[bytes | None, bytes | None]:
    """What a block's pieces are (their bytes are views into the latest frame, new each time)."""
    return (block.tar_bz2.digest if block.tar_bz2 else None, block.conda.digest if block.conda else None)
