"""Bounds on a request's head (request line and header fields), counted on the raw bytes.

The HTTP parser is fed only what fits: httptools gathers a header by joining every piece
it is given (quadratic in the header's length), so a 96 MiB header fed to it stalls the
whole process. :class:`HeadMeter` sees each chunk first and says when a head has grown
past its limits, before the parser does any work on it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"  # httptools (llhttp) accepts no bare LF line ends, so this is the only end of a head


@dataclass(frozen=True)
class HeadLimits:
    """What a client may send before its request's body."""

    max_request_line: int  # bytes of "METHOD target HTTP/1.1", without its CRLF
    max_head: int  # bytes of the request line and every header field, with their CRLFs
    max_fields: int  # header fields
    timeout: float  # seconds from the head's first byte (or the connection's start) to its end


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


class HeadMeter:
    """Counts one request head at a time; :meth:`reset` starts the next."""

    __slots__ = ("_tail", "complete", "limits", "lines", "size")

    def __init__(self, limits: HeadLimits) -> None:
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        self.size = 0  # head bytes seen
        self.lines = 0  # line ends seen
        self.complete = False
        self._tail = b""  # last bytes seen, for a head end split between two chunks

    @property
    def started(self) -> bool:
        return self.size > 0

    def feed(self, data: bytes) -> Refusal | None:
        """Count ``data``, the next bytes of the connection; a refusal when the head is too big.

        Bytes after the head's end are the body (or the next request): not counted.
        """
        if self.complete:
            return None
        if not self.size and not data.startswith((b"\r", b"\n")):
            end = data.find(HEAD_END)
            if end >= 0:  # the usual case: a whole head in one chunk, counted without copies
                size = end + len(HEAD_END)
                lines = data.count(b"\n", 0, size)
                self.size, self.lines, self.complete = size, lines, True
                limits = self.limits
                if (
                    data.find(b"\n") > limits.max_request_line + 1
                    or size > limits.max_head
                    or lines > limits.max_fields + 2
                ):
                    return self._check(0, 0, data)  # which limit, and the message
                return None
        if not self.started:
            data = data.lstrip(b"\r\n")  # empty lines before a request line are skipped (RFC 9112 2.2)
        window = self._tail + data
        end = window.find(HEAD_END)
        head = data if end < 0 else data[: end + len(HEAD_END) - len(self._tail)]
        before, self.size = self.size, self.size + len(head)
        lines_before, self.lines = self.lines, self.lines + head.count(b"\n")
        self.complete = end >= 0
        self._tail = window[-(len(HEAD_END) - 1) :]
        return self._check(before, lines_before, head)

    def finish(self) -> None:
        """The parser saw the head end (whatever this meter made of it)."""
        self.complete = True

    def _check(self, before: int, lines_before: int, head: bytes) -> Refusal | None:
        limits = self.limits
        if lines_before == 0:
            line_end = head.find(b"\n")
            line = before + (len(head) - head.endswith(b"\r") if line_end < 0 else line_end - 1)
            if line > limits.max_request_line:
                return Refusal(414, f"request line longer than {limits.max_request_line} bytes")
        if self.size > limits.max_head:
            return Refusal(431, f"request line and header fields longer than {limits.max_head} bytes in all")
        fields = self.lines - 1 - (1 if self.complete else 0)  # not the request line, nor the blank line
        if fields > limits.max_fields:
            return Refusal(431, f"more than {limits.max_fields} header fields")
        return None
