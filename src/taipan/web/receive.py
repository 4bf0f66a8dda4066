"""The one receive every upload handler uses: the request body, straight into staging.

Nothing is held whole in memory: chunks are hashed and written in batches of about a
MiB, from a worker thread so the event loop never waits on the disk. A raw body (plain
or chunked) is one file; ``multipart/form-data`` is parsed incrementally with
python-multipart, every file part staged (its own headers kept) and the small text
parts kept in memory.

The limits come from settings, in one place (:class:`Limits`), and bound the request,
not a part: all file parts together are at most ``max_upload_size`` bytes, all text
fields together at most ``max_form_fields_size``, and the whole body (framing included)
at most their sum plus a little. A declared ``Content-Length`` over the bound is refused
before a byte is read. A body that is not well-formed multipart (no boundary, garbage,
bad part headers, cut short) is an :class:`InvalidInput` naming the problem. The whole
receive must end before the staging scope's deadline (``upload_timeout``).

Every staged object is made by the caller's :class:`StagingScope`, which removes what
is not consumed: this module never deletes anything itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from taipan.conda.hashing import StreamHasher
from taipan.errors import InvalidInput, TooLarge
from taipan.packages.checks import Staged
from taipan.packages.staging import StagingScope
from taipan.settings import Settings
from taipan.storage.base import Writer

BATCH = 1024 * 1024
MAX_PARTS = 64
MAX_HEADERS_PER_PART = 32
FRAMING = 64 * 1024
"""Room for multipart boundaries and part headers, on top of the files and fields."""

Shape = Literal["raw", "multipart", "either"]


@dataclass(frozen=True)
class Limits:
    files: int
    """All file bytes of one request together (``max_upload_size``)."""
    fields: int
    """All text field bytes of one request together (``max_form_fields_size``)."""
    parts: int = MAX_PARTS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(files=settings.max_upload_size, fields=settings.max_form_fields_size)

    @property
    def multipart_body(self) -> int:
        return self.files + self.fields + FRAMING


@dataclass(frozen=True)
class Gate:
    """Credentials that travel inside the form (anaconda's ticket), checked as they arrive.

    ``check`` sees the text fields received so far after each one, and at the first file
    part; it answers True once the caller is let in (raising refuses the request). Until
    then at most ``budget`` body bytes are read: an outsider is turned away after a few KiB.
    """

    check: Callable[[dict[str, bytes]], Awaitable[bool]]
    budget: int
    refusal: str


@dataclass
class FilePart:
    name: str
    filename: str | None
    headers: dict[str, str]
    staged: Staged


@dataclass
class Form:
    files: list[FilePart] = field(default_factory=list)
    fields: dict[str, bytes] = field(default_factory=dict)
    raw: bool = False
    """The body was one raw file (its headers are the request's)."""


async def receive(
    request: Request,
    scope: StagingScope,
    limits: Limits,
    shape: Shape,
    *,
    file_fields: frozenset[str] = frozenset(),
    gate: Gate | None = None,
) -> Form:
    """Stage the request body under ``limits``; a raw body is one file part named ``""``.

    ``shape`` "either" takes multipart when the Content-Type says so, else raw. In a
    multipart body a part is a file when it has a filename or its name is in
    ``file_fields`` (anaconda's S3-style form sends ``file`` without a filename).
    """
    multipart = shape == "multipart" or (
        shape == "either" and request.headers.get("content-type", "").lower().startswith("multipart/form-data")
    )
    try:
        async with asyncio.timeout(max(scope.remaining_s(), 0)) as deadline:
            if multipart:
                return await _receive_multipart(request, scope, limits, file_fields, gate)
            return await _receive_raw(request, scope, limits)
    except TimeoutError:
        if deadline.expired():
            raise scope.too_slow() from None
        raise


async def _receive_raw(request: Request, scope: StagingScope, limits: Limits) -> Form:
    _check_declared_length(request, limits.files)
    sink = _Sink(scope, _Budget(limits.files, "the file is larger than the limit of {} bytes"))
    async for chunk in request.stream():
        await sink.feed(chunk)
    return Form(files=[FilePart("", None, {}, await sink.finish())], raw=True)


async def _receive_multipart(
    request: Request, scope: StagingScope, limits: Limits, file_fields: frozenset[str], gate: Gate | None
) -> Form:
    _check_declared_length(request, limits.multipart_body)
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("expected a multipart/form-data body with a boundary")
    reader = _PartReader(scope, limits, file_fields, gate)
    body = _Budget(limits.multipart_body, "the request body is larger than the limit of {} bytes")
    try:
        parser = MultipartParser(boundary, reader.callbacks(), max_header_count=MAX_HEADERS_PER_PART)  # type: ignore[arg-type]  # python-multipart types its callbacks as a TypedDict of exact signatures
        async for chunk in request.stream():
            body.take(len(chunk))
            parser.write(chunk)
            await reader.drain()
        parser.finalize()
    except FormParserError as exc:
        raise InvalidInput(f"the multipart body is malformed: {exc}") from None
    await reader.drain()
    if body.used == 0:
        raise InvalidInput("the multipart body is empty: it has no parts, so no file")
    if reader.open_part:
        raise InvalidInput("the multipart body ended in the middle of a part")
    if not reader.ended:
        raise InvalidInput("the multipart body ended before its closing boundary (truncated, or the wrong boundary)")
    await reader.let_in()
    return reader.form


class _Budget:
    """Bytes counted against one limit."""

    def __init__(self, limit: int, message: str) -> None:
        self.limit = limit
        self.used = 0
        self.message = message

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise TooLarge(self.message.format(self.limit))


class _Sink:
    """One object being staged: hash and write in batches, off the event loop."""

    def __init__(self, scope: StagingScope, budget: _Budget) -> None:
        self.key, self._writer = scope.writer()
        self._hasher = StreamHasher()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._budget = budget

    async def feed(self, data: bytes) -> None:
        self._budget.take(len(data))
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= BATCH:
            await self._flush()

    async def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if data:
            await run_in_threadpool(self._absorb, data)

    def _absorb(self, data: bytes) -> None:
        self._hasher.update(data)
        self._writer.write(data)

    async def finish(self) -> Staged:
        await self._flush()
        writer: Writer = self._writer
        await run_in_threadpool(writer.close)
        return Staged(self.key, self._hasher.result())


class _PartReader:
    """Turns parser callbacks (sync, called during ``write``) into async staging steps."""

    def __init__(self, scope: StagingScope, limits: Limits, file_fields: frozenset[str], gate: Gate | None) -> None:
        self._scope = scope
        self._limits = limits
        self._file_fields = file_fields
        self._gate = gate
        self._files = _Budget(limits.files, "the files are larger than the limit of {} bytes")
        self._fields = _Budget(limits.fields, "the form's text fields are larger than the limit of {} bytes")
        self._events: list[tuple[str, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        self._sink: _Sink | None = None
        self._text: bytearray | None = None
        self._part_name = ""
        self._part_filename: str | None = None
        self._parts = 0
        self._received = 0
        self.ended = False
        self.open_part = False
        self.form = Form()

    def callbacks(self) -> dict[str, object]:
        def data(kind: str) -> Callable[[bytes, int, int], None]:
            return lambda buf, start, end: self._events.append((kind, bytes(buf[start:end])))

        def mark(kind: str) -> Callable[[], None]:
            return lambda: self._events.append((kind, b""))

        return {
            "on_part_begin": mark("begin"),
            "on_header_field": data("field"),
            "on_header_value": data("value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_done"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
            "on_end": mark("done"),
        }

    def _count(self, size: int) -> None:
        """Bytes parsed so far: a gate not yet passed lets only its budget in."""
        self._received += size
        if self._gate is not None and self._received > self._gate.budget:
            raise InvalidInput(self._gate.refusal)

    async def let_in(self) -> None:
        """At the first file part (or the end of a form without one): the gate must be passed now."""
        if self._gate is not None and not await self._gate.check(dict(self.form.fields)):
            raise InvalidInput(self._gate.refusal)
        self._gate = None

    async def drain(self) -> None:
        events, self._events = self._events, []
        for kind, payload in events:
            await self._handle(kind, payload)

    async def _handle(self, kind: str, payload: bytes) -> None:
        self._count(len(payload))
        if kind == "begin":
            self._parts += 1
            if self._parts > self._limits.parts:
                raise InvalidInput(f"too many parts in the multipart body (at most {self._limits.parts})")
            self._headers, self._header_name, self._header_value = {}, b"", b""
            self.open_part = True
        elif kind == "field":
            self._header_name += payload
        elif kind == "value":
            self._header_value += payload
        elif kind == "header_end":
            self._headers[self._header_name.decode("latin-1").lower()] = self._header_value.decode("latin-1")
            self._header_name, self._header_value = b"", b""
        elif kind == "headers_done":
            await self._start_part()
        elif kind == "data":
            await self._part_data(payload)
        elif kind == "end":
            await self._end_part()
        elif kind == "done":
            self.ended = True

    async def _start_part(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._part_name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        self._part_filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        if self._part_filename is not None or self._part_name in self._file_fields:
            await self.let_in()  # refuse before a byte of a file is stored
            self._sink = _Sink(self._scope, self._files)
        else:
            self._text = bytearray()

    async def _part_data(self, payload: bytes) -> None:
        if self._sink is not None:
            await self._sink.feed(payload)
        elif self._text is not None:
            self._fields.take(len(payload))
            self._text += payload

    async def _end_part(self) -> None:
        if self._sink is not None:
            sink, self._sink = self._sink, None
            staged = await sink.finish()
            self.form.files.append(FilePart(self._part_name, self._part_filename, self._headers, staged))
        elif self._text is not None:
            self.form.fields[self._part_name] = bytes(self._text)
            self._text = None
        self.open_part = False
        if self._gate is not None and await self._gate.check(dict(self.form.fields)):
            self._gate = None


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise InvalidInput("Content-Length is not a number") from None
    if size > limit:
        raise TooLarge(f"the body is {size} bytes; the limit is {limit}")
