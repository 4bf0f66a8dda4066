"""Requests shaped exactly as each upload client sends them (shared/reference/client-protocols.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx

RATTLER_UA = "rattler_upload/0.10.4"


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body of unknown length: httpx sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def quetz_upload(
    http: httpx.Client, channel: str, path: Path, key: str | None, *, force: bool = False, sha256: str | None = None
) -> httpx.Response:
    """§1.4: POST .../upload/{basename}?force=&sha256=, X-API-Key, raw streamed body, no Content-Type."""
    data = path.read_bytes()
    headers = {"User-Agent": RATTLER_UA, **({"X-API-Key": key} if key else {})}
    params = {"force": "true" if force else "false", "sha256": sha256 or hashlib.sha256(data).hexdigest()}
    return http.post(
        f"/api/channels/{channel}/upload/{path.name}", params=params, headers=headers, content=chunks(data)
    )


def artifactory_put(
    http: httpx.Client, channel: str, subdir: str, path: Path, auth: dict[str, str], *, data: bytes | None = None
) -> httpx.Response:
    """§1.5: PUT {url}/{channel}/{subdir}/{basename}, Basic or Bearer, raw streamed body, no Content-Type."""
    body = path.read_bytes() if data is None else data
    headers = {"User-Agent": RATTLER_UA, **auth}
    return http.put(f"/{channel}/{subdir}/{path.name}", headers=headers, content=chunks(body))


def prefix_multipart_chunked(
    http: httpx.Client, channel: str, path: Path, key: str, *, attestation: str | None = None
) -> httpx.Response:
    """§1.1 as rattler_upload sends it: a `file` part with its own headers, an optional `attestation` part."""
    data = path.read_bytes()
    boundary = "rattler-7d1f0c2a9b"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"X-File-Name: {path.name}\r\n"
        f"X-File-SHA256: {hashlib.sha256(data).hexdigest()}\r\n\r\n"
    ).encode()
    tail = b"\r\n"
    if attestation is not None:
        tail += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="attestation"\r\n\r\n{attestation}\r\n'
        ).encode()
    tail += f"--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from chunks(data)
        yield tail

    return http.post(
        f"/api/v1/upload/{channel}",
        content=body(),
        headers={
            "Authorization": f"Bearer {key}",
            "User-Agent": RATTLER_UA,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
