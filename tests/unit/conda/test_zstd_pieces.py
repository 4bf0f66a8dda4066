"""Pieces compressed alone and spliced into one zstd frame decode, with every decoder that
conda, mamba and pixi use, to the pieces' bytes in order (each compressed one after 17 spaces)."""

from __future__ import annotations

import io
import random
import struct
import subprocess

import backports.zstd
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from taipan.conda import zstd_pieces
from taipan.conda.zstd_pieces import RESET_SIZE, Piece

# Small alphabets make runs and repeats at offsets 1, 4 and 8: what a fresh compressor
# encodes with its starting repeat offsets, and what breaks when those are not reset.
content = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet="a0 ", min_size=1, max_size=3000).map(str.encode),
    st.integers(1, 400).map(lambda n: b'{"name":"aaaa","md5":"0000000000","depends":[]},' * n),
)
part = st.tuples(st.booleans(), content, st.sampled_from([1, 3, 9, 19]))


def expected(parts: list[tuple[bool, bytes, int]]) -> bytes:
    return b"".join(b" " * RESET_SIZE + data if compressed else data for compressed, data, _ in parts)


def spliced(parts: list[tuple[bool, bytes, int]]) -> bytes:
    return zstd_pieces.join(
        zstd_pieces.compress(data, level) if compressed else data for compressed, data, level in parts
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(part, max_size=8))
def test_spliced_frame_decodes_to_the_pieces(parts: list[tuple[bool, bytes, int]]) -> None:
    frame = spliced(parts)
    want = expected(parts)
    assert zstandard.frame_content_size(frame) == len(want)
    assert zstandard.ZstdDecompressor().decompress(frame) == want  # libzstd, as conda ≤ 26.6 and rattler
    with backports.zstd.ZstdFile(io.BytesIO(frame), "rb") as zf:  # conda ≥ 26.7
        assert zf.read() == want
    reader = zstandard.ZstdDecompressor().decompressobj()
    assert reader.decompress(frame) == want
    assert reader.unused_data == b""  # one frame: a reader that stops after the first misses nothing


def test_zstd_command_line_reads_it() -> None:
    parts = [(i % 2 == 0, b'{"a":"0000aaaa"},' * (i * 500 + 1), 9) for i in range(6)]
    out = subprocess.run(["zstd", "-d", "-c", "-q"], input=spliced(parts), capture_output=True, check=True).stdout
    assert out == expected(parts)


def test_the_reset_is_what_makes_it_work() -> None:
    """Pieces put side by side without RESET mis-decode, for some inputs: the checks above
    would see it."""
    rng = random.Random(3)
    alphabets = [b"ab", b"a", b'{"x":1,"aaaa":"0000"}', bytes(range(256))]

    def data() -> bytes:
        alphabet = rng.choice(alphabets)
        return bytes(rng.choice(alphabet) for _ in range(rng.choice([5, 50, 500, 5000])))

    def misdecodes(datas: list[bytes]) -> bool:
        body = b"".join(zstd_pieces.compress(d, 9).blocks for d in datas) + b"\x01\x00\x00"  # empty last block
        frame = zstd_pieces.MAGIC + bytes([0xC0, 17 << 3]) + struct.pack("<Q", sum(map(len, datas))) + body
        try:
            return zstandard.ZstdDecompressor().decompress(frame) != b"".join(datas)
        except zstandard.ZstdError:
            return True

    assert any(misdecodes([data() for _ in range(3)]) for _ in range(60))


@pytest.mark.parametrize("size", [0, 1, 1 << 17, (1 << 17) + 1, 3 << 17])
def test_raw_parts_of_any_size(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    assert zstandard.ZstdDecompressor().decompress(zstd_pieces.join([data, Piece(b"", 0)])) == data + b" " * RESET_SIZE
