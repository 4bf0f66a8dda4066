"""Conditional requests (ETag, Last-Modified → 304) and byte ranges (→ 206 / 416)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from starlette.requests import Request


def http_date(ms: int) -> str:
    return formatdate(ms / 1000, usegmt=True)


def not_modified(request: Request, etag: str, last_modified_ms: int) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since is looked at only without it."""
    headers = request.headers
    return matches(headers.get("if-none-match"), headers.get("if-modified-since"), etag, last_modified_ms)


def matches(inm: str | None, ims: str | None, etag: str, last_modified_ms: int) -> bool:
    """:func:`not_modified` on the two header values (None: not sent)."""
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims).timestamp()
    except (TypeError, ValueError):
        return False
    return int(last_modified_ms // 1000) <= since


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


class Unsatisfiable(Exception):
    pass


def parse_range(request: Request, size: int, etag: str) -> ByteRange | None:
    """The single range asked for, None for the whole body; raise Unsatisfiable for a 416."""
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: answer with the whole body
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                raise Unsatisfiable
            return ByteRange(max(0, size - length), size)
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or start < 0 or end <= start:
        raise Unsatisfiable
    return ByteRange(start, min(end, size))
