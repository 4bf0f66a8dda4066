"""Wiring: the use-case objects one running Taipan (server or CLI) shares, built from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from taipan.accounts.ratelimit import FailureLimiter
from taipan.accounts.users import PasswordCache
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.indexing.artifacts import IndexFiles
from taipan.indexing.watch import ChangeWatch, open_watch
from taipan.metrics import Metrics
from taipan.oauth.provider import OAuthProvider
from taipan.packages.downloads import DownloadCounter
from taipan.packages.ingest import Ingestor
from taipan.publishing.oidc.httpx_source import HttpJwksSource
from taipan.publishing.oidc.verify import KeyCache, TokenVerifier
from taipan.settings import Settings
from taipan.storage.base import Storage
from taipan.storage.factory import Presigner, open_storage, presigner, storage_config

PREFIX_DEV_AUDIENCE = "prefix.dev"


@dataclass
class Services:
    settings: Settings
    db: Database
    storage: Storage
    index: IndexFiles
    ingestor: Ingestor
    limiter: FailureLimiter
    passwords: PasswordCache
    oidc: TokenVerifier
    downloads: DownloadCounter
    oauth: OAuthProvider
    presigner: Presigner | None = None
    """Set when package downloads are redirected to presigned URLs of the store."""
    metrics: Metrics = field(default_factory=Metrics)
    changes: ChangeWatch | None = None
    """Tells the index fast path (web.fastpath) when anything was committed; None: no fast path."""

    def close(self) -> None:
        self.index.close()
        self.downloads.close()
        if self.changes is not None:
            self.changes.close()
        self.db.dispose()


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    storage = open_storage(storage_config(settings))
    metrics = Metrics()
    return Services(
        settings=settings,
        db=db,
        storage=storage,
        index=IndexFiles(
            db,
            settings.artifact_cache_bytes,
            settings.zstd_level,
            metrics,
            block_records=settings.index_block_records,
            hold_plain=settings.index_hold_plain_bytes,
            share=share_blocks(settings),
        ),
        ingestor=Ingestor(db, storage, settings.max_upload_size, settings.max_unpacked_ratio, metrics),
        limiter=FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window),
        passwords=PasswordCache(db),
        oidc=oidc_verifier(settings),
        downloads=DownloadCounter(db),
        oauth=OAuthProvider(db, settings),
        presigner=download_presigner(settings, storage),
        metrics=metrics,
        changes=open_watch(settings.database_url),
    )


def share_blocks(settings: Settings) -> bool:
    """Whether other processes may want this one's blocks of repodata.json.zst (taipan.indexing.shared)."""
    if settings.index_share_blocks is not None:
        return settings.index_share_blocks
    return settings.workers > 1 or not settings.database_url.startswith("sqlite")


def download_presigner(settings: Settings, storage: Storage) -> Presigner | None:
    if not settings.s3_presigned_downloads:
        return None
    found = presigner(storage)
    if found is None:
        raise ValueError("s3_presigned_downloads needs s3:// storage (storage_url)")
    return found


def oidc_verifier(settings: Settings) -> TokenVerifier:
    """Trusted publishing: tokens from the configured issuers, for this server's audience
    (and prefix.dev's, when older clients are let in)."""
    audiences = [settings.oidc_audience]
    if settings.oidc_accept_prefix_audience:
        audiences.append(PREFIX_DEV_AUDIENCE)
    keys = KeyCache(HttpJwksSource(), refetch_interval=settings.oidc_jwks_refetch_interval)
    return TokenVerifier(settings.oidc_issuers, audiences, keys)


def prepare_database(services: Services) -> None:
    """Create or migrate the schema."""
    migrate.upgrade(services.db)
