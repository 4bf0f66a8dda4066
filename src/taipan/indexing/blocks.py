"""repodata.json.zst kept in blocks, so that a change recompresses the blocks it touched.

See taipan.conda.repodata for the blocks (content-defined cut points, one zstd frame per
block and section). Here they are built from the database and brought up to date:

- from scratch, one pass over the label view's records in file name order: O(N);
- from an earlier revision, with the file names each revision's log says may have
  changed (taipan.indexing.state): each such name's block is read again from the rows
  of its file name range through the (subdir, filename) index and recompressed, and a
  name that is a cut point splits or merges one block. O(records of the blocks touched),
  ~``BLOCK_RECORDS`` per changed file, whatever the subdir's size.

The blocks of a revision depend only on the records at that revision, so a patched model
gives the bytes a fresh one gives (tests/unit/indexing checks it on random changes).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.conda.repodata import BLOCK_RECORDS, Block, is_cut, render_block
from taipan.db.models import FileLabel, PackageFile
from taipan.indexing.state import changes_between

IN_CHUNK = 5000
"""Ids per IN (...) list: well under SQLite's and PostgreSQL's bound on parameters."""


@dataclass
class BlockModel:
    """The blocks of one subdir's label view at ``revision``; ``starts[i]`` begins ``blocks[i]``."""

    epoch: str
    revision: int
    starts: list[str]
    blocks: list[Block]


def build(
    session: Session, subdir_id: int, label: str, epoch: str, revision: int, level: int, every: int
) -> BlockModel:
    starts: list[str] = [""]
    blocks: list[Block] = []
    current: list[tuple[str, bytes]] = []
    for filename, record in _view(session, subdir_id, label):
        if is_cut(filename, every):
            blocks.append(render_block(current, level))
            starts.append(filename)
            current = []
        current.append((filename, record))
    blocks.append(render_block(current, level))
    return BlockModel(epoch, revision, starts, blocks)


def patch(
    session: Session, model: BlockModel, subdir_id: int, label: str, revision: int, level: int, every: int
) -> bool:
    """Bring ``model`` to ``revision``; False (model unusable) when the logs can't say how."""
    logs = changes_between(session, subdir_id, model.revision, revision)
    if logs is None:
        return False
    touched: set[str] = set()
    for log in logs:
        for change in log:
            if change.label != label:
                continue
            if change.files is None:
                return False
            touched.update(change.files)
    if touched:
        names = sorted(touched)
        present = _present(session, subdir_id, label, names)
        dirty: set[int] = set()
        split: set[str] = set()
        for filename in names:  # first the cut points that come or go, then which blocks changed
            if is_cut(filename, every):
                i = bisect.bisect_left(model.starts, filename)
                there = i < len(model.starts) and model.starts[i] == filename
                if filename in present and not there:
                    model.starts.insert(i, filename)
                    model.blocks.insert(i, model.blocks[i - 1])  # a placeholder: dirty below
                    split.add(filename)
                elif filename not in present and there:
                    del model.starts[i]
                    del model.blocks[i]
        for filename in names:
            i = bisect.bisect_right(model.starts, filename) - 1
            dirty.add(i)
            if filename in split:
                dirty.add(i - 1)  # split here: the block before lost its tail
        for i in sorted(dirty):
            end = model.starts[i + 1] if i + 1 < len(model.starts) else None
            model.blocks[i] = render_block(_range(session, subdir_id, label, model.starts[i], end), level)
    model.revision = revision
    return True


def _view(session: Session, subdir_id: int, label: str) -> Iterator[tuple[str, bytes]]:
    rows = session.execute(
        select(PackageFile.filename, PackageFile.record)
        .join(FileLabel, FileLabel.file_id == PackageFile.id)
        .where(PackageFile.subdir_id == subdir_id, FileLabel.label == label)
        .order_by(PackageFile.filename)
        .execution_options(yield_per=4096)
    )
    yield from rows


def _range(session: Session, subdir_id: int, label: str, start: str, end: str | None) -> list[tuple[str, bytes]]:
    """The view's records with start <= file name < end, found through (subdir, filename).

    The label is checked by file id afterwards: asked together, SQLite may walk the label's
    index instead, i.e. every file of the label."""
    query = select(PackageFile.id, PackageFile.filename, PackageFile.record).where(
        PackageFile.subdir_id == subdir_id, PackageFile.filename >= start
    )
    if end is not None:
        query = query.where(PackageFile.filename < end)
    rows = session.execute(query.order_by(PackageFile.filename)).all()
    labelled = _labelled(session, label, [row[0] for row in rows])
    return [(filename, record) for file_id, filename, record in rows if file_id in labelled]


def _present(session: Session, subdir_id: int, label: str, filenames: list[str]) -> set[str]:
    found: dict[int, str] = {}
    for i in range(0, len(filenames), IN_CHUNK):
        rows = session.execute(
            select(PackageFile.id, PackageFile.filename).where(
                PackageFile.subdir_id == subdir_id, PackageFile.filename.in_(filenames[i : i + IN_CHUNK])
            )
        )
        found.update({file_id: filename for file_id, filename in rows})
    return {found[file_id] for file_id in _labelled(session, label, list(found))}


def _labelled(session: Session, label: str, file_ids: list[int]) -> set[int]:
    labelled: set[int] = set()
    for i in range(0, len(file_ids), IN_CHUNK):
        labelled.update(
            session.scalars(
                select(FileLabel.file_id).where(
                    FileLabel.label == label, FileLabel.file_id.in_(file_ids[i : i + IN_CHUNK])
                )
            )
        )
    return labelled


__all__ = ["BLOCK_RECORDS", "BlockModel", "build", "patch"]
