"""HeadMeter: what counts as a request's head, however the bytes are split into chunks."""

from __future__ import annotations

from taipan.web.request_head import HeadLimits, HeadMeter, Refusal

LIMITS = HeadLimits(max_request_line=40, max_head=200, max_fields=3, timeout=1.0)
HEAD = b"GET /noarch/repodata.json HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"


def feed_in_pieces(data: bytes, size: int, meter: HeadMeter | None = None) -> tuple[HeadMeter, Refusal | None]:
    meter = meter or HeadMeter(LIMITS)
    for start in range(0, len(data), size):
        refusal = meter.feed(data[start : start + size])
        if refusal:
            return meter, refusal
    return meter, None


def test_a_head_within_the_limits_in_any_split_is_complete_and_only_it_is_counted() -> None:
    for size in (1, 2, 3, 5, len(HEAD)):
        meter, refusal = feed_in_pieces(HEAD + b"x" * 1000, size)
        assert refusal is None
        assert meter.complete
        assert meter.size == len(HEAD)


def test_empty_lines_before_the_request_line_are_not_a_head_end() -> None:
    meter = HeadMeter(LIMITS)
    assert meter.feed(b"\r\n\r\n") is None
    assert not meter.complete
    assert not meter.started
    assert meter.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 300) == Refusal(
        431, "request line and header fields longer than 200 bytes in all"
    )


def test_the_request_line_is_bounded_before_its_end_arrives() -> None:
    _, refusal = feed_in_pieces(b"GET /" + b"a" * 100, 7)
    assert refusal is not None
    assert refusal.status == 414


def test_a_request_line_at_the_limit_is_accepted() -> None:
    line = b"GET /" + b"a" * 26 + b" HTTP/1.1"
    assert len(line) == LIMITS.max_request_line
    for size in (1, 3, len(line) + 2):
        _, refusal = feed_in_pieces(line + b"\r\n\r\n", size)
        assert refusal is None


def test_header_fields_are_counted() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 3 + b"\r\n"
    assert feed_in_pieces(head, 4)[1] is None
    _, refusal = feed_in_pieces(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4 + b"\r\n", 4)
    assert refusal == Refusal(431, "more than 3 header fields")


def test_reset_counts_the_next_head_afresh() -> None:
    meter, _ = feed_in_pieces(HEAD, 9)
    meter.reset()
    meter, refusal = feed_in_pieces(HEAD, 9, meter)
    assert refusal is None
    assert meter.size == len(HEAD)
