"""Upload helpers that speak the prefix dialect exactly as rattler-build and pixi do."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx


def upload_raw(
    http: httpx.Client,
    channel: str,
    path: Path,
    *,
    force: bool = False,
    sha256: str | None = None,
    name: str | None = None,
) -> httpx.Response:
    """The older form: raw body, X-File-Name / X-File-Sha256 request headers."""
    data = path.read_bytes()
    headers = {
        "X-File-Name": name or path.name,
        "X-File-Sha256": sha256 or hashlib.sha256(data).hexdigest(),
        "Content-Type": "application/octet-stream",
    }
    params = {"force": "true"} if force else None
    return http.post(f"/api/v1/upload/{channel}", content=data, headers=headers, params=params)


def upload_multipart(
    http: httpx.Client,
    channel: str,
    path: Path,
    *,
    force: bool = False,
    sha256: str | None = None,
    attestation: bytes | None = None,
) -> httpx.Response:
    """The current rattler_upload form: a `file` part whose own headers carry name and hash,
    then (``--attestation``) a text part ``attestation`` with a Sigstore bundle."""
    data = path.read_bytes()
    boundary = "taipan-test-boundary-7d1f"
    part_headers = (
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"X-File-Name: {path.name}\r\n"
        f"X-File-SHA256: {sha256 or hashlib.sha256(data).hexdigest()}\r\n\r\n"
    )
    body = (f"--{boundary}\r\n{part_headers}").encode() + data
    if attestation is not None:
        body += f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="attestation"\r\n\r\n'.encode()
        body += attestation
    body += f"\r\n--{boundary}--\r\n".encode()
    params = {"force": "true"} if force else None
    return http.post(
        f"/api/v1/upload/{channel}",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        params=params,
    )
