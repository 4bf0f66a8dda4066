"""Pick a storage adapter from a URL and the storage settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable
from urllib.parse import urlparse

from taipan.settings import Settings
from taipan.storage.base import Storage
from taipan.storage.local import LocalStorage
from taipan.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from taipan.storage.s3 import S3Storage

S3_PART_SIZE = 8 * 1024 * 1024
"""The default part size of multipart uploads to S3 (``Settings.s3_part_size``)."""


@dataclass(frozen=True)
class StorageConfig:
    """Everything needed to open the storage, picklable so worker processes can open it too."""

    url: str
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    s3_part_size: int = S3_PART_SIZE
    s3_presign_endpoint_url: str = ""


@runtime_checkable
class Presigner(Protocol):
    """Storage that can hand out short-lived URLs for clients to GET an object directly."""

    def presigned_url(self, key: str, expires_s: int) -> str: ...


def storage_config(settings: Settings) -> StorageConfig:
    return StorageConfig(
        url=settings.storage_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        s3_addressing_style=settings.s3_addressing_style,
        s3_part_size=settings.s3_part_size,
        s3_presign_endpoint_url=settings.s3_presign_endpoint_url,
    )


def open_storage(config: StorageConfig | str) -> Storage:
    if isinstance(config, str):
        config = StorageConfig(config)
    parsed = urlparse(config.url)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme == "memory":
        return MemoryStorage()
    if parsed.scheme == "s3":
        return _s3(config, parsed.netloc, parsed.path)
    raise ValueError(f"unsupported storage URL {config.url!r}: use file:///path or s3://bucket/prefix")


def storage_from_url(url: str) -> Storage:
    return open_storage(url)


def _s3(config: StorageConfig, bucket: str, prefix: str) -> S3Storage:
    # Imported here: boto3 takes ~0.2 s to import, which every command would pay otherwise.
    from taipan.storage.s3 import S3Storage, make_client

    if not bucket:
        raise ValueError(f"storage URL {config.url!r} names no bucket: use s3://bucket/prefix")
    client = functools.partial(
        make_client,
        region=config.s3_region,
        access_key_id=config.s3_access_key_id,
        secret_access_key=config.s3_secret_access_key,
        addressing_style=config.s3_addressing_style,
    )
    presign = None
    if config.s3_presign_endpoint_url and config.s3_presign_endpoint_url != config.s3_endpoint_url:
        presign = client(endpoint_url=config.s3_presign_endpoint_url)
    return S3Storage(
        client(endpoint_url=config.s3_endpoint_url),
        bucket,
        prefix,
        part_size=config.s3_part_size,
        presign_client=presign,
    )


def presigner(storage: Storage) -> Presigner | None:
    """The storage itself when it can presign downloads (S3), else None."""
    return storage if isinstance(storage, Presigner) else None
