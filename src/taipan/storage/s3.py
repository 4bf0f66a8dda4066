"""Storage in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS's XML API).

Keys live under ``prefix`` in one bucket. What the port promises, and how S3 gives it:

- nothing visible until ``close``: small objects are one PUT at ``close``; larger ones
  are a multipart upload (invisible until completed) sent a part at a time, so at most
  one part is held in memory; ``abort`` (or any failure) aborts the upload;
- ``move``: a server-side copy (CopyObject, or UploadPartCopy above the 5 GiB single
  copy limit), then a delete of the source — the destination changes at once;
- ``modified_ns``: S3's LastModified, truncated to whole seconds, because a HEAD
  answers in an HTTP date (seconds) while a listing may carry milliseconds: every
  ``stat``, ``list`` and the info returned by ``close``/``move`` agree to the second;
- a missing object (NoSuchKey, 404) is ``FileNotFoundError``; a missing bucket is not;
- ``put_many``: the PUTs go 16 at a time, and their LastModified is read back with one
  listing per thousand objects of a folder rather than a HEAD each (a HEAD for any the
  listing does not show); ``delete_many``: DeleteObjects, a thousand keys a request, or
  one DELETE each where the store refuses it (GCS's XML API has no multi-object delete).

A process killed during a multipart upload leaves an incomplete upload that no listing
shows; ``remove_partial_writes`` aborts those begun before a cutoff (every server runs it
at start and periodically), and a bucket lifecycle rule ("abort incomplete multipart
uploads after a day") is a second net (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from taipan.storage.base import ObjectInfo, check_key
from taipan.storage.factory import S3_PART_SIZE

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

MIB = 1024 * 1024
PART_SIZE = S3_PART_SIZE
"""Multipart upload part size: the most a writer holds in memory. S3's minimum is 5 MiB."""
MIN_PART_SIZE = 5 * MIB
COPY_LIMIT = 5 * 1024 * MIB
"""Largest object one CopyObject may copy; larger ones are copied in parts."""
COPY_PART_SIZE = 512 * MIB
READ_CHUNK = MIB
READ_BLOCK_MIN = 256 * 1024
READ_BLOCK_MAX = 8 * MIB
"""A reader's read-ahead grows from the minimum to this while reads are sequential."""
DELETE_THREADS = 8
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def make_client(
    *,
    endpoint_url: str = "",
    region: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
    addressing_style: Literal["auto", "path", "virtual"] = "auto",
    max_connections: int = 64,
) -> S3Client:
    """A boto3 S3 client; empty values fall back to boto3's own (AWS_* variables, ~/.aws)."""
    config = Config(
        s3={"addressing_style": addressing_style},
        signature_version="s3v4",  # presigned URLs too: SigV2 is refused by R2 and newer AWS regions
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=max_connections,
        connect_timeout=10,
        read_timeout=60,
        # Checksums only where S3 requires them: several S3-compatible stores (older MinIO
        # and Ceph, R2, GCS) refuse the CRC trailers boto3 sends by default since 1.36.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=config,
    )
    return client


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in MISSING


def _seconds_ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1e9)


class S3Writer:
    """One object being written: one PUT if it stays under a part, else a multipart upload."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self._s3 = storage
        self._key = key
        self._name = storage.name(key)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._done = False

    def write(self, data: bytes) -> None:
        self._buffer += data
        size = self._s3.part_size
        if len(self._buffer) >= size:
            try:
                while len(self._buffer) >= size:
                    self._send_part(bytes(self._buffer[:size]))
                    del self._buffer[:size]
            except BaseException:
                self.abort()
                raise

    def _send_part(self, data: bytes) -> None:
        client, bucket = self._s3.client, self._s3.bucket
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._name)["UploadId"]
        number = len(self._parts) + 1
        sent = client.upload_part(Bucket=bucket, Key=self._name, UploadId=self._upload_id, PartNumber=number, Body=data)
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def close(self) -> ObjectInfo:
        client, bucket = self._s3.client, self._s3.bucket
        try:
            if self._upload_id is None:
                client.put_object(Bucket=bucket, Key=self._name, Body=bytes(self._buffer))
            else:
                if self._buffer or not self._parts:
                    self._send_part(bytes(self._buffer))
                client.complete_multipart_upload(
                    Bucket=bucket, Key=self._name, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
                )
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._buffer = bytearray()
        return self._s3.info(self._key)

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None and not self._done:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(ClientError):  # already gone (completed or aborted): nothing to undo
                self._s3.client.abort_multipart_upload(Bucket=self._s3.bucket, Key=self._name, UploadId=upload_id)


class S3Reader(io.RawIOBase):
    """A seekable reader over ranged GETs, with a bounded read-ahead buffer.

    Sequential reads (a tar stream, a zip member) double the read-ahead up to
    ``READ_BLOCK_MAX``; a jump starts over with a small block aligned below the
    position, so a zip reader's backward steps near the end of the file (end of central
    directory, then the directory) hit one block. Every GET is conditional on the ETag
    seen when the reader opened: an object replaced meanwhile fails the read instead of
    mixing two files' bytes.
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._pos = 0
        self._buffer = b""
        self._start = 0
        self._block = READ_BLOCK_MIN

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed reader")
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out: list[bytes] = []
        while self._pos < end:
            out.append(self._next(end))
        return b"".join(out)

    def _next(self, end: int) -> bytes:
        pos = self._pos
        offset = pos - self._start
        if 0 <= offset < len(self._buffer):
            data = self._buffer[offset : offset + end - pos]
        elif end - pos >= READ_BLOCK_MAX:  # a big read: the caller asked for it all, fetch it uncached
            data = self._fetch(pos, end)
        else:
            self._fill(pos, end)
            data = self._buffer[pos - self._start : end - self._start]
        if not data:
            raise OSError("the object became shorter while it was read")
        self._pos += len(data)
        return data

    def _fill(self, pos: int, end: int) -> None:
        if pos == self._start + len(self._buffer):
            self._block = min(self._block * 2, READ_BLOCK_MAX)
            start = pos
        else:
            self._block = READ_BLOCK_MIN
            start = pos - pos % READ_BLOCK_MIN
        stop = min(self._size, max(end, start + self._block))
        self._buffer = self._fetch(start, stop)
        self._start = start

    def close(self) -> None:
        self._buffer = b""
        super().close()


class S3Storage:
    parallel_requests = 16
    """Round trips: a batch's moves go 16 at a time (each is a copy and a delete)."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = PART_SIZE,
        copy_limit: int = COPY_LIMIT,
        copy_part_size: int = COPY_PART_SIZE,
        presign_client: S3Client | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts must be at least {MIN_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.copy_limit = copy_limit
        self.copy_part_size = copy_part_size
        self._presign_client = presign_client or client
        self._multi_delete = True
        """Whether the store takes DeleteObjects; False after the first refusal."""

    def name(self, key: str) -> str:
        """The S3 object name of ``key``."""
        return self.prefix + check_key(key)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self.name(key)))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def info(self, key: str) -> ObjectInfo:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        return ObjectInfo(key=key, size=head["ContentLength"], modified_ns=_seconds_ns(head["LastModified"]))

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    def open(self, key: str) -> IO[bytes]:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        name, etag = self.name(key), head["ETag"]

        def fetch(start: int, end: int) -> bytes:
            data: bytes = self._get(key, name, start, end, etag).read()
            return data

        return io.BufferedReader(S3Reader(fetch, head["ContentLength"]), buffer_size=64 * 1024)

    def _get(self, key: str, name: str, start: int, end: int, etag: str = "") -> Any:
        """The body of a ranged GET; with ``etag``, only while the object is still that one."""
        try:
            span = f"bytes={start}-{end - 1}"
            if etag:
                return self.client.get_object(Bucket=self.bucket, Key=name, Range=span, IfMatch=etag)["Body"]
            return self.client.get_object(Bucket=self.bucket, Key=name, Range=span)["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise OSError(f"{key} was replaced while it was read") from None
            raise

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        name = self.name(key)
        if end <= start:
            if self._head(key) is None:
                raise FileNotFoundError(key)
            return
        try:
            body = self._get(key, name, start, end)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # start at or past the end
                return
            raise
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def stat(self, key: str) -> ObjectInfo | None:
        head = self._head(key)
        if head is None:
            return None
        return ObjectInfo(key=key, size=head["ContentLength"], modified_ns=_seconds_ns(head["LastModified"]))

    def move(self, src: str, dst: str) -> ObjectInfo:
        target = self.name(dst)  # before src is touched: a refused move must not lose it
        head = self._head(src)
        if head is None:
            raise FileNotFoundError(src)
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": self.name(src)}
        if head["ContentLength"] <= self.copy_limit:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=source, CopySourceIfMatch=head["ETag"])
        else:
            self._copy_in_parts(source, target, head["ContentLength"], head["ETag"])
        self.client.delete_object(Bucket=self.bucket, Key=source["Key"])
        # LastModified is the copy's: read it back, so it is what every later stat reports.
        return self.info(dst)

    def _copy_in_parts(self, source: CopySourceTypeDef, target: str, size: int, etag: str) -> None:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, start in enumerate(range(0, size, self.copy_part_size), start=1):
                end = min(size, start + self.copy_part_size) - 1
                copied = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                    CopySourceIfMatch=etag,
                )
                parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
            raise

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[ObjectInfo]:
        names = {key: self.name(key) for key, _ in items}
        small = [(key, data) for key, data in items if len(data) < self.part_size]
        with ThreadPoolExecutor(max(1, min(self.parallel_requests, len(small)))) as pool:
            for _ in pool.map(
                lambda item: self.client.put_object(Bucket=self.bucket, Key=names[item[0]], Body=item[1]), small
            ):
                pass
        for key, data in items:
            if len(data) >= self.part_size:  # not what put_many is for, but the writer knows how
                writer = self.writer(key)
                writer.write(data)
                writer.close()
        # Listings are read-after-write consistent on the stores we support (AWS S3 since 2020,
        # MinIO, R2, GCS); a size that does not match is asked for again, with a HEAD.
        listed = self._listed(list(names))
        sizes = {key: len(data) for key, data in items}
        return [
            info if (info := listed.get(key)) is not None and info.size == sizes[key] else self.info(key)
            for key, _ in items
        ]

    def _listed(self, keys: list[str]) -> dict[str, ObjectInfo]:
        """The infos of ``keys`` from a listing of each folder they are in, over the range of names they span.

        Reads at most one page more per folder than its keys fill; a key not found by then
        (a store whose listing lags, or names spread thinly over a large folder) is left
        out, for the caller to HEAD."""
        folders: dict[str, list[str]] = {}
        for key in keys:
            folders.setdefault(key.rpartition("/")[0], []).append(self.name(key))
        found: dict[str, ObjectInfo] = {}
        for names in folders.values():
            names.sort()
            wanted, last = set(names), names[-1]
            folder = names[0][: names[0].rfind("/") + 1]
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder, Delimiter="/", StartAfter=names[0][:-1]
            )
            for number, page in enumerate(pages, start=1):
                contents = page.get("Contents", [])
                for item in contents:
                    if item["Key"] in wanted:
                        key = item["Key"][len(self.prefix) :]
                        found[key] = ObjectInfo(key, item["Size"], _seconds_ns(item["LastModified"]))
                if not contents or contents[-1]["Key"] >= last or number > len(names) // 1000 + 1:
                    break
        return found

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def delete_many(self, keys: Sequence[str]) -> None:
        self._delete_names([self.name(key) for key in keys])

    def _delete_names(self, names: list[str]) -> None:
        left = names
        while left and self._multi_delete:
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": name} for name in left[:1000]], "Quiet": True}
                )
            except ClientError:
                # No multi-object delete here (GCS), or a checksum it will not take: one DELETE each from now on.
                self._multi_delete = False
                break
            if answer.get("Errors"):
                break  # those go one DELETE each below, where a real failure raises
            left = left[1000:]
        if left:
            with ThreadPoolExecutor(DELETE_THREADS) as pool:
                for _ in pool.map(lambda name: self.client.delete_object(Bucket=self.bucket, Key=name), left):
                    pass

    def delete_prefix(self, prefix: str) -> None:
        self._delete_names([self.prefix + info.key for info in self.list(prefix)])

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix:
            check_key(prefix.rstrip("/"))
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"][len(self.prefix) :],
                    size=item["Size"],
                    modified_ns=_seconds_ns(item["LastModified"]),
                )

    def remove_partial_writes(self, before_ns: int) -> int:
        removed = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for upload in page.get("Uploads", []):
                if self._last_written_ns(upload["Key"], upload["UploadId"], upload["Initiated"]) >= before_ns:
                    continue
                with contextlib.suppress(ClientError):  # completed or aborted meanwhile (another process)
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        return removed

    def _last_written_ns(self, name: str, upload_id: str, initiated: datetime) -> int:
        """When an unfinished upload last received a part (a live one keeps sending them)."""
        newest = _ns(initiated)
        pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=name, UploadId=upload_id)
        with contextlib.suppress(ClientError):  # completed or aborted meanwhile: gone either way
            for page in pages:
                newest = max([newest, *(_ns(part["LastModified"]) for part in page.get("Parts", []))])
        return newest

    def check(self) -> None:
        # A listing, not a bucket HEAD: credentials scoped to the prefix may not reach the bucket.
        self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)

    def presigned_url(self, key: str, expires_s: int) -> str:
        """A URL that GETs ``key`` without credentials for ``expires_s`` seconds (GET only, not HEAD)."""
        url: str = self._presign_client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.name(key)}, ExpiresIn=expires_s
        )
        return url
