"""Receive request bodies straight into staged storage objects, hashing as they stream.

Nothing is held whole in memory: chunks are written in batches of about a MiB, from a
worker thread so the event loop never waits on the disk. Raw bodies (plain or chunked)
and ``multipart/form-data`` (parsed incrementally with python-multipart, every part
treated as bytes, headers of each part kept) are both handled here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from taipan.conda.hashing import StreamHasher
from taipan.errors import InvalidInput, TooLarge
from taipan.packages.ingest import Staged
from taipan.storage.base import STAGING_PREFIX, Storage, Writer

BATCH = 1024 * 1024
MAX_FIELD_BYTES = 4 * 1024 * 1024  # text parts (an attestation bundle is a few KiB)
MAX_PARTS = 64


def _new_key() -> str:
    return f"{STAGING_PREFIX}{uuid.uuid4().hex}"


class StagingSink:
    """One object being staged: hash and write in batches, off the event loop."""

    def __init__(self, storage: Storage, limit: int) -> None:
        self.key = _new_key()
        self._writer: Writer = storage.writer(self.key)
        self._hasher = StreamHasher()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._received = 0
        self._limit = limit

    async def feed(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._limit:
            raise TooLarge(f"the file is larger than the limit of {self._limit} bytes")
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
        await run_in_threadpool(self._writer.close)
        return Staged(self.key, self._hasher.result())

    async def abort(self) -> None:
        await run_in_threadpool(self._writer.abort)


async def receive_raw(request: Request, storage: Storage, limit: int) -> Staged:
    """Stage the whole request body (any transfer encoding)."""
    _check_declared_length(request, limit)
    sink = StagingSink(storage, limit)
    try:
        async for chunk in request.stream():
            await sink.feed(chunk)
        return await sink.finish()
    except BaseException:
        await sink.abort()
        raise


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


async def receive_multipart(
    request: Request,
    storage: Storage,
    limit: int,
    file_fields: frozenset[str],
    before_file: Callable[[dict[str, bytes]], Awaitable[None]] | None = None,
) -> Form:
    """Stage every file part; keep small text parts in memory.

    A part is a file when it has a filename or its name is in ``file_fields`` (anaconda's
    S3-style form sends the package as ``file`` without a filename). ``before_file`` sees
    the text fields sent before the first file part, and may refuse the request before a
    byte of the file is stored.
    """
    _check_declared_length(request, limit + MAX_FIELD_BYTES)
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("expected a multipart/form-data body with a boundary")
    reader = _PartReader(storage, limit, file_fields, before_file)
    parser = MultipartParser(boundary, reader.callbacks(), max_header_count=32)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await reader.drain()
        parser.finalize()
        await reader.drain()
        if reader.open_part:
            raise InvalidInput("the multipart body ended in the middle of a part")
        return reader.form
    except BaseException:
        await reader.abort()
        raise


class _PartReader:
    """Turns parser callbacks (sync, called during ``write``) into async sink operations."""

    def __init__(
        self,
        storage: Storage,
        limit: int,
        file_fields: frozenset[str],
        before_file: Callable[[dict[str, bytes]], Awaitable[None]] | None = None,
    ) -> None:
        self._before_file = before_file
        self._storage = storage
        self._limit = limit
        self._file_fields = file_fields
        self._events: list[tuple[str, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        self._sink: StagingSink | None = None
        self._text: bytearray | None = None
        self._part_name = ""
        self._part_filename: str | None = None
        self._parts = 0
        self.open_part = False
        self.form = Form()

    def callbacks(self) -> dict[str, object]:
        def data(kind: str):  # type: ignore[no-untyped-def]
            return lambda buf, start, end: self._events.append((kind, bytes(buf[start:end])))

        def mark(kind: str):  # type: ignore[no-untyped-def]
            return lambda: self._events.append((kind, b""))

        return {
            "on_part_begin": mark("begin"),
            "on_header_field": data("field"),
            "on_header_value": data("value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_done"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
        }

    async def drain(self) -> None:
        events, self._events = self._events, []
        for kind, payload in events:
            await self._handle(kind, payload)

    async def _handle(self, kind: str, payload: bytes) -> None:
        if kind == "begin":
            self._parts += 1
            if self._parts > MAX_PARTS:
                raise InvalidInput(f"too many parts in the multipart body (at most {MAX_PARTS})")
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
            self._start_part()
            if self._sink is not None and self._before_file is not None:
                check, self._before_file = self._before_file, None
                await check(dict(self.form.fields))
        elif kind == "data":
            await self._part_data(payload)
        elif kind == "end":
            await self._end_part()

    def _start_part(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._part_name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        self._part_filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        if self._part_filename is not None or self._part_name in self._file_fields:
            self._sink = StagingSink(self._storage, self._limit)
        else:
            self._text = bytearray()

    async def _part_data(self, payload: bytes) -> None:
        if self._sink is not None:
            await self._sink.feed(payload)
        elif self._text is not None:
            self._text += payload
            if len(self._text) > MAX_FIELD_BYTES:
                raise TooLarge(f"form field {self._part_name!r} is larger than {MAX_FIELD_BYTES} bytes")

    async def _end_part(self) -> None:
        if self._sink is not None:
            sink, self._sink = self._sink, None
            staged = await sink.finish()
            self.form.files.append(FilePart(self._part_name, self._part_filename, self._headers, staged))
        elif self._text is not None:
            self.form.fields[self._part_name] = bytes(self._text)
            self._text = None
        self.open_part = False

    async def abort(self) -> None:
        if self._sink is not None:
            await self._sink.abort()
        for part in self.form.files:
            await run_in_threadpool(self._storage_delete, part.staged.key)

    def _storage_delete(self, key: str) -> None:
        self._storage.delete(key)


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
