"""One typed configuration object, read once at the edge.

Values come from (highest first): explicit arguments, ``TAIPAN_*`` environment
variables, a TOML file (``TAIPAN_CONFIG`` or ``--config``), then the defaults.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_VARIABLES = ("TAIPAN_CONFIG", "TAIPAN_CONFIG_FILE")  # the documented name first
GIB = 1024**3
MIB = 1024**2
OIDC_PROVIDERS = ("github", "gitlab", "google")
DEFAULT_OIDC_ISSUERS = {
    "github": "https://token.actions.githubusercontent.com",
    "gitlab": "https://gitlab.com",
    "google": "https://accounts.google.com",
}

HOLD_PLAIN = 64 * 1024**2
"""The largest repodata.json a process holds decompressed, by default (``index_hold_plain_bytes``)."""


class Settings(BaseSettings):
    """Everything Taipan can be told. Build it directly in tests."""

    # validate_by_name: config_file has aliases (its variables) and is still passed by name.
    model_config = SettingsConfigDict(env_prefix="TAIPAN_", extra="forbid", validate_by_name=True)

    config_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(*CONFIG_VARIABLES),
        description="TOML file with any of these settings (TAIPAN_CONFIG; TAIPAN_CONFIG_FILE is an older name).",
    )
    data_dir: Path = Field(
        default=Path("taipan-data"), description="Folder for the SQLite database, packages and the admin token."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; default sqlite in data_dir.")
    storage_url: str = Field(default="", description="Where package files live; default file://data_dir/channels.")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="",
        description="URL clients use to reach the server (printed links, anaconda-client's upload URL); "
        "default http://host:port, and for anaconda-client the URL it reached the server at.",
    )
    max_upload_size: int = Field(
        default=GIB, ge=1, description="Largest accepted upload request: all its package files together, bytes."
    )
    max_form_fields_size: int = Field(
        default=MIB, ge=1024, description="Largest total of an upload form's text fields (attestation, ticket), bytes."
    )
    upload_timeout: int = Field(
        default=2 * 3600,
        ge=1,
        description="Longest one upload's body may take to arrive, seconds (slower ones are cut off); "
        "staged leftovers older than twice this are removed.",
    )
    max_unpacked_ratio: int = Field(
        default=200, ge=1, description="Largest allowed uncompressed/compressed ratio of an archive."
    )
    index_max_age: int = Field(default=60, ge=0, description="Cache-Control max-age for index files, seconds.")
    artifact_cache_bytes: int = Field(
        default=512 * 1024**2, ge=0, description="Per-process memory for built index files."
    )
    zstd_level: int = Field(default=9, ge=1, le=22, description="zstd level of repodata.json.zst.")
    index_share_blocks: bool | None = Field(
        default=None,
        description="Publish the blocks of repodata.json.zst in the database for other server processes and "
        "hosts to load instead of compressing them again. Unset: on when there is more than one worker or "
        "the database is not SQLite (another host may serve it).",
    )
    index_hold_plain_bytes: int = Field(
        default=HOLD_PLAIN,
        ge=0,
        description="Largest repodata.json a process keeps decompressed in memory, bytes; a larger one is "
        "decompressed from the kept repodata.json.zst as it is sent (memory stays near the .zst's size).",
    )
    index_block_records: int = Field(
        default=1024,
        ge=1,
        le=1 << 20,
        description="Records per block of repodata.json.zst, on average: a change recompresses its block. "
        "Every process of one deployment must use the same value.",
    )
    auth_failure_limit: int = Field(
        default=30, ge=1, description="Failed sign-ins or bad keys from one address per window before 429."
    )
    auth_failure_window: int = Field(default=60, ge=1, description="Window of auth_failure_limit, seconds.")
    session_ttl: int = Field(default=14 * 86400, ge=60, description="How long a sign-in lasts, seconds.")
    signup: Literal["closed", "open", "invite"] = Field(
        default="closed",
        description="Who may make an account on the web sign-up page: nobody (closed), anyone (open), "
        "or holders of an administrator's invitation (invite).",
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as plain text, or as one JSON object per line (for log collectors)."
    )
    access_log: bool = Field(default=False, description="Log every request (method, path, status, duration).")
    workers: int = Field(default=1, ge=1, description="Server processes `taipan serve` runs (--workers).")
    max_request_line: int = Field(
        default=8 * 1024, ge=256, description="Longest request line (method, path and query), bytes; longer: 414."
    )
    max_request_head: int = Field(
        default=64 * 1024, ge=1024, description="Largest request line and header fields together, bytes; larger: 431."
    )
    max_header_fields: int = Field(default=100, ge=8, description="Most header fields in one request; more: 431.")
    request_head_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers, from their first byte (or from "
        "connecting); slower: 408 and the connection is closed.",
    )
    keep_alive_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds an idle kept-alive connection stays open after an answer before the server closes it.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For / "
        "X-Forwarded-Proto headers are believed (the client address counts failed sign-ins and goes into the "
        "audit log); '*' trusts any. Default: none, so the headers are ignored.",
    )
    s3_endpoint_url: str = Field(
        default="",
        description="Endpoint of the S3-compatible store for s3:// storage (MinIO, Ceph, R2, GCS); "
        "default AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.",
    )
    s3_region: str = Field(default="", description="S3 region; default AWS_REGION / AWS_DEFAULT_REGION.")
    s3_access_key_id: str = Field(
        default="", description="S3 access key; default the standard AWS chain (AWS_ACCESS_KEY_ID, ~/.aws, roles)."
    )
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""), description="S3 secret key (with s3_access_key_id).")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="Bucket in the host name (virtual) or in the path (path: MinIO, Ceph)."
    )
    s3_part_size: int = Field(
        default=8 * MIB, ge=5 * MIB, description="Multipart upload part size: the most one upload holds in memory."
    )
    s3_presigned_downloads: bool = Field(
        default=False,
        description="Answer package GETs with a redirect to a short-lived presigned URL of the store "
        "instead of streaming the bytes through Taipan (HEAD and index files are always answered directly).",
    )
    s3_presign_expiry: int = Field(default=300, ge=1, le=7 * 86400, description="Lifetime of a presigned URL, seconds.")
    s3_presign_endpoint_url: str = Field(
        default="", description="Endpoint clients reach the store at, for presigned URLs; default s3_endpoint_url."
    )
    oidc_issuers: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_OIDC_ISSUERS),
        description="Trusted publishing: the OIDC issuer URL of each CI provider (github, gitlab, google); "
        "point gitlab at a self-hosted GitLab. As JSON in TAIPAN_OIDC_ISSUERS.",
    )
    oidc_accept_prefix_audience: bool = Field(
        default=False,
        description="Also accept OIDC tokens with the audience 'prefix.dev' (what rattler-build <= 0.66.1 and "
        "pixi <= 0.70 always ask for). Lets a token made for prefix.dev be replayed here: see the docs.",
    )
    oidc_key_ttl: int = Field(
        default=900, ge=1, le=900, description="Lifetime of an upload key minted for a trusted publisher, seconds."
    )
    oidc_jwks_refetch_interval: float = Field(
        default=30.0, ge=0, description="Least time between fetches of one issuer's keys for unknown key ids, seconds."
    )
    oauth_access_token_ttl: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="OAuth provider: lifetime of an access token, seconds (rattler refreshes 5 minutes before "
        "expiry, so keep it well above 300).",
    )
    oauth_refresh_token_ttl: int = Field(
        default=30 * 86400,
        ge=60,
        description="OAuth provider: an unused refresh token expires after this long, seconds; each refresh "
        "makes a new one, so a client used at least this often stays signed in.",
    )
    oauth_device_code_ttl: int = Field(
        default=600, ge=1, le=3600, description="OAuth device flow: how long a user code can be entered, seconds."
    )
    oauth_device_poll_interval: int = Field(
        default=5, ge=1, le=60, description="OAuth device flow: least time between a client's polls, seconds."
    )
    oauth_key_rotation_days: float = Field(
        default=30, gt=0, description="OAuth provider: a token signing key is replaced after this many days."
    )
    oauth_key_secret: SecretStr = Field(
        default=SecretStr(""),
        description="OAuth provider: if set, the token signing keys are stored in the database encrypted "
        "with this passphrase (every server process needs the same one). Empty: stored unencrypted.",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        data_dir = self.data_dir.expanduser().resolve()
        self.data_dir = data_dir
        if not self.database_url:
            self.database_url = f"sqlite:///{data_dir / 'taipan.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{data_dir / 'channels'}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
            # A derived value, not the operator's: clients that can, get the URL they used instead.
            self.model_fields_set.discard("public_url")
        else:
            self.public_url = self.public_url.rstrip("/")
        self.oidc_issuers = _check_issuers(self.oidc_issuers)
        parse_trusted_proxies(self.trusted_proxies)
        return self

    @property
    def oidc_audience(self) -> str:
        """The ``aud`` trusted-publishing tokens must carry: this server's host name, lower-case,
        punycode, without the port (what rattler_upload >= 0.8 asks its CI provider for)."""
        host = urlsplit(self.public_url).hostname or self.host
        return host.encode("idna").decode("ascii").lower()

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFromPointer(settings_cls, init_settings, env_settings))


class _TomlFromPointer(PydanticBaseSettingsSource):
    """Reads the TOML file named by ``config_file`` (from arguments or the environment)."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._pointers = (init_settings, env_settings)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for checked, source in enumerate(self._pointers):
            if checked:  # an argument (--config) wins over both variables
                _check_one_pointer()
            values = source()
            path = next((values[key] for key in ("config_file", *CONFIG_VARIABLES) if values.get(key)), None)
            if path:
                return TomlConfigSettingsSource(self.settings_cls, toml_file=Path(path))()
        return {}


def _check_one_pointer() -> None:
    """Both variables naming different files is a mistake to report, not one to pick a winner for."""
    given = {os.environ[name] for name in CONFIG_VARIABLES if os.environ.get(name)}
    if len(given) > 1:
        raise ValueError(f"{' and '.join(CONFIG_VARIABLES)} name different files: set one")


def _check_issuers(issuers: dict[str, str]) -> dict[str, str]:
    cleaned = {provider: url.strip().rstrip("/") for provider, url in issuers.items()}
    for provider, url in cleaned.items():
        if provider not in OIDC_PROVIDERS:
            raise ValueError(f"oidc_issuers: unknown provider {provider!r}; use {', '.join(OIDC_PROVIDERS)}")
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"oidc_issuers: the {provider} issuer must be an http(s) URL, not {url!r}")
    if len(set(cleaned.values())) != len(cleaned):
        raise ValueError("oidc_issuers: two providers share one issuer URL")
    return cleaned


def parse_trusted_proxies(value: str) -> tuple[bool, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    """(trust any, networks) from ``trusted_proxies``: comma-separated addresses or CIDR networks, or ``*``."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        return True, ()
    try:
        return False, tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise ValueError(f"trusted_proxies: {exc} (give IP addresses or networks, or '*')") from None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and config file, with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
