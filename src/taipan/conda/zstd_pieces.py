"""One zstd frame spliced from pieces compressed on their own, so that a change recompresses a piece.

Why one frame: concatenated frames are one stream by the format (RFC 8878 §3.1), and conda,
libmamba and ``zstd -d`` read them so, but rattler (pixi, rattler-build, py-rattler) stops
after the first frame of ``repodata.json.zst`` (its async-compression decoder is not set to
read multiple members): clients then see a truncated document. So the pieces go into one
frame, block by block, which every decoder reads.

A piece is the blocks of a frame compressed alone, with the frame header and the last-block
flag taken off. Inside one frame, a decoder carries three things from block to block:

- the window: a piece's matches only reach back into the piece itself (its compressor had
  no history), so any window at least as large as the largest piece serves;
- the entropy tables: a piece's first block defines its own (its compressor had none to
  repeat), and its later blocks repeat only the piece's own;
- the repeat offsets, which a fresh compressor starts at (1, 4, 8) and may use at once. So
  before each piece comes :data:`RESET`: three hand-made blocks whose matches have the
  explicit offsets 8, 4, 1, which leave the offsets at (1, 4, 8) whatever came before. They
  decode to 17 spaces: JSON whitespace, between tokens.

Small fixed parts (``,``, the head and tail of a document) go in as raw blocks, which
change none of that state.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

import zstandard

MAGIC = b"\x28\xb5\x2f\xfd"
MAX_RAW_BLOCK = 1 << 17  # Block_Maximum_Size: 128 KiB at most
_LAST, _RAW, _RLE, _COMPRESSED = 1, 0, 1, 2


def _block_header(last: bool, kind: int, size: int) -> bytes:
    return (int(last) | kind << 1 | size << 3).to_bytes(3, "little")


def _one_sequence_block(literals: bytes, literal_length_code: int, offset_code: int, offset_extra: int) -> bytes:
    """A compressed block of ``literals`` (raw, < 32 bytes) then one match of length 3.

    Its three symbol tables are RLE (mode 1), so the bitstream holds only the offset's extra
    bits (``offset_code`` of them, read first) and the end marker bit above them; the
    literal length (< 16) and match length (3, code 0) need no extra bits."""
    assert len(literals) < 32
    assert literal_length_code < 16
    literals_section = bytes([len(literals) << 3]) + literals  # Raw_Literals_Block, 1-byte header
    modes = 0b01_01_01_00  # Literals_Lengths, Offsets, Match_Lengths: RLE
    bitstream = offset_extra | 1 << offset_code  # extra bits, then the marker
    sequences = bytes([1, modes, literal_length_code, offset_code, 0]) + bitstream.to_bytes(1, "little")
    content = literals_section + sequences
    return _block_header(False, _COMPRESSED, len(content)) + content


# Offset_Value = offset + 3 (explicit), coded as its top bit (the code) and the bits below it.
RESET = b"".join(
    [
        _one_sequence_block(b" " * 8, 8, 3, 11 - 8),  # 8 spaces, then 3 more from offset 8
        _one_sequence_block(b"", 0, 2, 7 - 4),  # 3 from offset 4
        _one_sequence_block(b"", 0, 2, 4 - 4),  # 3 from offset 1: the offsets are (1, 4, 8)
    ]
)
RESET_SIZE = 17
"""Bytes that :data:`RESET` decodes to (all spaces)."""


@dataclass(frozen=True)
class Piece:
    """The blocks of ``size`` bytes compressed alone (no frame header, no last-block flag)."""

    blocks: bytes | memoryview  # a view into the last frame joined of it (see joined)
    size: int
    digest: bytes = field(default=b"", compare=False)
    """sha256 of ``blocks``: what a piece is stored and shared under (taipan.indexing.shared)."""


def compress(data: bytes, level: int) -> Piece:
    frame = zstandard.ZstdCompressor(
        level=level, write_content_size=True, write_checksum=False, write_dict_id=False
    ).compress(data)
    blocks = bytearray(frame[zstandard.frame_header_size(frame) :])
    pos = 0
    while True:
        header = int.from_bytes(blocks[pos : pos + 3], "little")
        last, kind, size = header & 1, header >> 1 & 3, header >> 3
        blocks[pos] &= ~_LAST & 0xFF
        pos += 3 + (1 if kind == _RLE else size)
        if last:
            break
    assert pos == len(blocks), "a zstd frame with a checksum or trailing bytes"
    return Piece(bytes(blocks), len(data), hashlib.sha256(blocks).digest())


def join(parts: Iterable[bytes | Piece]) -> bytes:
    """One frame of ``parts`` in order: bytes as raw blocks, pieces after :data:`RESET` each.

    The frame declares its content size and a window as large as the largest piece."""
    return joined(parts)[0]


def joined(parts: Iterable[bytes | Piece]) -> tuple[bytes, list[Piece]]:
    """:func:`join`'s frame, and the pieces among ``parts`` again, in order, each now a view
    into the frame: whoever keeps them keeps no second copy of their bytes (the frame is
    one copy of the whole: a conda-forge-sized one is ~30 MB)."""
    body: list[bytes | memoryview] = []
    spans: list[tuple[Piece, int]] = []  # each piece and where its blocks start in the body
    offset = size = largest = 0
    for part in parts:
        if isinstance(part, Piece):
            body += [RESET, part.blocks]
            spans.append((part, offset + len(RESET)))
            offset += len(RESET) + len(part.blocks)
            size += RESET_SIZE + part.size
            largest = max(largest, part.size)
            continue
        for i in range(0, len(part), MAX_RAW_BLOCK):
            chunk = part[i : i + MAX_RAW_BLOCK]
            head = _block_header(False, _RAW, len(chunk))
            body += [head, chunk]
            offset += len(head) + len(chunk)
            size += len(chunk)
    body.append(_block_header(True, _RAW, 0))
    window_log = max(20, (largest - 1).bit_length())  # at least 1 MiB, as zstd's own frames ask
    header = MAGIC + bytes([0b11 << 6, (window_log - 10) << 3]) + struct.pack("<Q", size)
    frame = b"".join([header, *body])
    view = memoryview(frame)
    start = len(header)
    pieces = [Piece(view[start + at : start + at + len(piece.blocks)], piece.size, piece.digest) for piece, at in spans]
    return frame, pieces
