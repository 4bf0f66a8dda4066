"""repodata.json.zst blocks shared between processes and hosts, through the database.

A process that brought a label view's blocks to a revision by building or patching them
(taipan.indexing.blocks) *publishes* them: one manifest row per view — the revision, the
block starts and each block's piece digests — and the pieces that manifest names and the
one it replaces did not; pieces only the replaced one named are deleted in the same
transaction. So the pieces of the current manifest are always all there, and the table
holds about one compressed copy of each view.

A process that needs the published revision *loads* it instead: the manifest, and only
the pieces it does not hold already (by digest). A process that is one revision behind
reads one manifest and the piece or two that changed, and compresses nothing; one that
holds nothing (just started, evicted, far behind) reads the compressed pieces, O(size of
the .zst), instead of an O(N) render and zstd of every record. Loading happens in the
snapshot the revision was read in, so the manifest and its pieces are of that revision.

Publishing runs after the answer, off the request's path (taipan.indexing.artifacts).
Two processes that patch the same revision at once publish the same bytes; the second
finds the manifest current and writes nothing. A manifest never goes back: an older
revision published late is dropped.
"""

from __future__ import annotations

from typing import Any

import msgpack
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from taipan.conda.repodata import Block
from taipan.conda.zstd_pieces import Piece
from taipan.db.engine import Database
from taipan.db.models import IndexManifest, IndexPiece
from taipan.db.upsert import insert_many_or_ignore, insert_or_update
from taipan.indexing.blocks import IN_CHUNK, BlockModel

MANIFEST_VERSION = 1


def _pieces(model: BlockModel) -> dict[bytes, Piece]:
    return {p.digest: p for block in model.blocks for p in (block.tar_bz2, block.conda) if p is not None}


def _encode(model: BlockModel, level: int, every: int) -> bytes:
    blocks = [[b.tar_bz2.digest if b.tar_bz2 else None, b.conda.digest if b.conda else None] for b in model.blocks]
    return bytes(msgpack.packb([MANIFEST_VERSION, level, every, model.starts, blocks], use_bin_type=True))


def _decode(data: bytes, level: int, every: int) -> tuple[list[str], list[list[bytes | None]]] | None:
    """The starts and the piece digests of a manifest made with these settings, else None."""
    try:
        version, made_level, made_every, starts, blocks = msgpack.unpackb(data)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if version != MANIFEST_VERSION or made_level != level or made_every != every or len(starts) != len(blocks):
        return None
    return starts, blocks


def load(
    session: Session,
    subdir_id: int,
    label: str,
    epoch: str,
    revision: int,
    level: int,
    every: int,
    have: BlockModel | None,
) -> BlockModel | None:
    """The blocks published for exactly this revision, reusing pieces ``have`` holds; None if none are."""
    row = session.execute(
        select(IndexManifest.epoch, IndexManifest.revision, IndexManifest.data).where(
            IndexManifest.subdir_id == subdir_id, IndexManifest.label == label
        )
    ).first()
    if row is None or row[0] != epoch or row[1] != revision:
        return None
    manifest = _decode(row[2], level, every)
    if manifest is None:
        return None
    starts, digests = manifest
    known = _pieces(have) if have is not None and have.epoch == epoch else {}
    wanted = sorted({d for pair in digests for d in pair if d is not None and d not in known})
    for i in range(0, len(wanted), IN_CHUNK):
        for digest, size, data in session.execute(
            select(IndexPiece.digest, IndexPiece.size, IndexPiece.data).where(
                IndexPiece.subdir_id == subdir_id,
                IndexPiece.label == label,
                IndexPiece.digest.in_(wanted[i : i + IN_CHUNK]),
            )
        ):
            known[digest] = Piece(data, size, digest)
    if any(d is not None and d not in known for pair in digests for d in pair):
        return None  # not all there: build instead
    blocks = [Block(known[a] if a else None, known[b] if b else None) for a, b in digests]
    return BlockModel(epoch, revision, list(starts), blocks)


def publish(db: Database, subdir_id: int, label: str, model: BlockModel, level: int, every: int) -> bool:
    """Make ``model`` the view's published blocks, unless as new a revision is published already."""
    pieces = _pieces(model)
    data = _encode(model, level, every)
    with db.write() as session:
        old = session.execute(
            select(IndexManifest.epoch, IndexManifest.revision, IndexManifest.data)
            .where(IndexManifest.subdir_id == subdir_id, IndexManifest.label == label)
            .with_for_update()
        ).first()
        if old is not None and old[0] == model.epoch and old[1] >= model.revision:
            return False
        decoded = _decode(old[2], level, every) if old is not None else None
        where = (IndexPiece.subdir_id == subdir_id, IndexPiece.label == label)
        if old is not None and decoded is None:  # another epoch or other settings: start over
            session.execute(delete(IndexPiece).where(*where))
        had = {d for pair in decoded[1] for d in pair if d is not None} if decoded is not None else set()
        gone = sorted(had - pieces.keys())
        for i in range(0, len(gone), IN_CHUNK):
            session.execute(delete(IndexPiece).where(*where, IndexPiece.digest.in_(gone[i : i + IN_CHUNK])))
        rows: list[dict[str, Any]] = [
            {"subdir_id": subdir_id, "label": label, "digest": d, "size": p.size, "data": p.blocks}
            for d, p in pieces.items()
            if d not in had
        ]
        insert_many_or_ignore(session, IndexPiece, rows, ["subdir_id", "label", "digest"])
        manifest = {"subdir_id": subdir_id, "label": label, "epoch": model.epoch, "revision": model.revision}
        insert_or_update(
            session, IndexManifest, {**manifest, "data": data}, ["subdir_id", "label"], ["epoch", "revision", "data"]
        )
    return True


def snapshot(model: BlockModel) -> BlockModel:
    """A copy to publish later: the model itself is patched in place by the next revision."""
    return BlockModel(model.epoch, model.revision, list(model.starts), list(model.blocks))
