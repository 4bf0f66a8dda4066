"""Conditional requests and byte ranges, on bare ASGI requests."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from taipan.web.http_cache import ByteRange, Unsatisfiable, http_date, not_modified, parse_range

ETAG = '"abc-1"'
MODIFIED_MS = 1_700_000_000_500  # 2023-11-14T22:13:20.5Z
SIZE = 100


def _request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_http_date() -> None:
    assert http_date(MODIFIED_MS) == "Tue, 14 Nov 2023 22:13:20 GMT"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"if_none_match": ETAG}, True),
        ({"if_none_match": '"other"'}, False),
        ({"if_none_match": f'"other", {ETAG}'}, True),
        ({"if_none_match": f"W/{ETAG}"}, True),
        ({"if_none_match": "*"}, True),
        ({"if_modified_since": "Tue, 14 Nov 2023 22:13:20 GMT"}, True),
        ({"if_modified_since": "Wed, 15 Nov 2023 00:00:00 GMT"}, True),
        ({"if_modified_since": "Tue, 14 Nov 2023 22:13:19 GMT"}, False),
        ({"if_modified_since": "not a date"}, False),
        ({"if_modified_since": ""}, False),
        # If-None-Match wins: a stale tag means modified, whatever the date says
        ({"if_none_match": '"other"', "if_modified_since": "Wed, 15 Nov 2023 00:00:00 GMT"}, False),
        ({"if_none_match": ETAG, "if_modified_since": "Mon, 01 Jan 2001 00:00:00 GMT"}, True),
    ],
)
def test_not_modified(headers: dict[str, str], expected: bool) -> None:
    assert not_modified(_request(**headers), ETAG, MODIFIED_MS) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"range": "bytes=0-9"}, ByteRange(0, 10)),
        ({"range": "bytes=5-"}, ByteRange(5, SIZE)),
        ({"range": "bytes=-3"}, ByteRange(SIZE - 3, SIZE)),
        ({"range": "bytes=-1000"}, ByteRange(0, SIZE)),
        ({"range": "bytes=90-1000"}, ByteRange(90, SIZE)),
        ({"range": "bytes=99-99"}, ByteRange(99, SIZE)),
        ({"range": "BYTES=0-0"}, ByteRange(0, 1)),
        ({"range": "bytes=0-9,20-29"}, None),  # multiple ranges: the whole body
        ({"range": "items=0-9"}, None),
        ({"range": "bytes=abc"}, None),
        ({"range": "bytes=a-b"}, None),
        ({"range": "bytes=0-9", "if_range": ETAG}, ByteRange(0, 10)),
        ({"range": "bytes=0-9", "if_range": '"stale"'}, None),  # changed since: the whole body
        ({"range": "bytes=0-9", "if_range": "Tue, 14 Nov 2023 22:13:20 GMT"}, None),
    ],
)
def test_parse_range(headers: dict[str, str], expected: ByteRange | None) -> None:
    assert parse_range(_request(**headers), SIZE, ETAG) == expected


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=100-200", "bytes=9-5", "bytes=-0"])
def test_unsatisfiable_ranges(spec: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(_request(range=spec), SIZE, ETAG)


def test_content_range() -> None:
    assert ByteRange(0, 10).content_range(SIZE) == "bytes 0-9/100"
    assert ByteRange(97, 100).content_range(SIZE) == "bytes 97-99/100"
