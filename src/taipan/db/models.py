"""Tables. Times are integer milliseconds since the epoch (UTC), the unit repodata uses."""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    avatar_url: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    """An http(s) image URL shown on the channel's web pages; empty for none."""


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """argon2id; None means password login is off for this account (e.g. the bootstrap admin)."""
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class ChannelMember(Base):
    """A user's role in a channel. Exactly one member of each channel is its owner."""

    __tablename__ = "channel_members"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))


class WebSession(Base):
    """A signed-in browser or API client. Only the digest of the session token is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class Invitation(Base):
    """A one-use invitation to sign up (when sign-up is by invitation). Only the token's digest is kept."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_channel_at", "channel", "at_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(128), nullable=True)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Subdir(Base):
    """One platform folder of a channel, and the version of its index.

    ``revision`` goes up by one in the same transaction as every change to the subdir's
    packages; the row update is also the lock that serialises writers of one subdir.
    ``epoch`` is random per row, so a channel deleted and made again never repeats an ETag.
    """

    __tablename__ = "subdirs"
    __table_args__ = (Index("uq_subdirs_channel_name", "channel_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    epoch: Mapped[str] = mapped_column(String(32))
    updated_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class PackageFile(Base):
    __tablename__ = "package_files"
    __table_args__ = (
        Index("uq_package_files_subdir_filename", "subdir_id", "filename", unique=True),
        Index("ix_package_files_subdir_name", "subdir_id", "name"),
        Index("ix_package_files_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subdir_id: Mapped[int] = mapped_column(ForeignKey("subdirs.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255).with_variant(String(255, collation="C"), "postgresql"))
    """Compared bytewise on every backend: blocks of repodata are file name ranges."""
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    build: Mapped[str] = mapped_column(String(64))
    build_number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    record: Mapped[bytes] = mapped_column(LargeBinary)
    """The repodata record as compact sorted JSON, built once at ingest."""
    run_exports: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    about: Mapped[bytes] = mapped_column(LargeBinary, default=b"{}")
    indexed_timestamp: Mapped[int] = mapped_column(BigInteger)
    uploaded_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    uploader: Mapped[str | None] = mapped_column(String(255), nullable=True)
    download_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """GETs of the file, added in batches (see taipan.packages.downloads)."""
    has_attestation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A Sigstore bundle was uploaded with the file; stored next to it as ``<object key>.sigstore.json``."""
    object_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    """The storage key of the bytes this record describes; None for ``{channel}/{subdir}/{filename}``.
    Those bytes are never overwritten while the record points at them (see taipan.packages.objects)."""


class FileLabel(Base):
    """A label a package file carries (anaconda.org's model): ``main`` unless said otherwise.

    Each label is its own view of the channel: ``/{channel}/label/{label}/{subdir}/…``
    (``main`` also at ``/{channel}/{subdir}/…``).
    """

    __tablename__ = "file_labels"
    __table_args__ = (Index("ix_file_labels_label_file", "label", "file_id"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("package_files.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), primary_key=True)


class ShardPointer(Base):
    """The current shard of each package name in each label view of a subdir."""

    __tablename__ = "shard_pointers"
    __table_args__ = (Index("ix_shard_pointers_subdir_name", "subdir_id", "name"),)

    subdir_id: Mapped[int] = mapped_column(ForeignKey("subdirs.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), primary_key=True, server_default="main")
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class ShardBlob(Base):
    """Shard bytes by content digest. Old ones stay a while: clients may hold an older index."""

    __tablename__ = "shard_blobs"

    subdir_id: Mapped[int] = mapped_column(ForeignKey("subdirs.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class IndexManifest(Base):
    """The blocks of a label view's repodata.json.zst at its last published revision
    (taipan.indexing.shared): which pieces, in order, so other processes load instead of build."""

    __tablename__ = "index_manifests"

    subdir_id: Mapped[int] = mapped_column(ForeignKey("subdirs.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class IndexPiece(Base):
    """One compressed piece of a block of repodata.json.zst, by content digest, per label view."""

    __tablename__ = "index_pieces"

    subdir_id: Mapped[int] = mapped_column(ForeignKey("subdirs.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ApiKey(Base):
    """An API key, stored only as the sha256 of the key (keys are long and random).

    A key acts for its user, narrowed by its scope: ``read_only`` caps every role at
    Viewer; rows in ``api_key_channels`` limit it to those channels, each with a role cap.
    ``parent_key_id`` is the key that minted it (None: minted by a sign-in or by the server):
    a key works only while every key up its chain does (see accounts.keys).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    channel_scoped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    parent_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True, index=True
    )


class ApiKeyChannel(Base):
    __tablename__ = "api_key_channels"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class TrustedPublisher(Base):
    """A CI identity allowed to upload to a channel with an OIDC token instead of a stored key.

    The columns are shared by the providers; which ones must be set depends on ``provider``:
    github (owner, repository, workflow, environment?), gitlab (owner = namespace,
    repository = project, workflow = CI config path, environment?), google (email and/or
    subject). ``issuer`` is the issuer URL in force when the publisher was added: a later
    change of the server's issuer setting must not let another issuer's identities in.
    """

    __tablename__ = "trusted_publishers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    repository: Mapped[str | None] = mapped_column(String(255), nullable=True)
    workflow: Mapped[str | None] = mapped_column(String(255), nullable=True)
    environment: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class UploadTicket(Base):
    """Permission to upload one file without credentials, for anaconda.org's two-step upload.

    ``stage`` (authenticated) makes a ticket; the client then POSTs the file, with no
    credentials, to a URL whose form carries the ticket's secret. The secret is stored
    only as a digest; a ticket is good once, for a short time, for exactly one file.
    """

    __tablename__ = "upload_tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(128))
    subdir: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    labels: Mapped[str] = mapped_column(Text, default="[]")
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# -- OAuth / OpenID Connect provider (taipan.oauth) ------------------------------------------


class OAuthClient(Base):
    """An OAuth client an administrator registered (``rattler`` is built in, not stored).

    ``redirect_uris`` is a JSON list matched exactly; ``loopback`` also allows any
    ``http://127.0.0.1|[::1]|localhost:<port>/...`` redirect (RFC 8252, native apps).
    A confidential client has ``secret_hash`` (sha256 of its secret); a public one has none.
    """

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    redirect_uris: Mapped[str] = mapped_column(Text, default="[]")
    loopback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class OAuthGrant(Base):
    """One sign-in of a user to a client (an "OAuth session"): what its tokens stand for.

    Access tokens name the grant (``sid``) and are refused once it is revoked; refresh
    tokens belong to it. Revoking the grant ends every token it issued.
    """

    __tablename__ = "oauth_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(1024))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    flow: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    last_used_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(255), default="")


class OAuthRefreshToken(Base):
    """A refresh token, stored as its sha256 only. Used once: ``used_ms`` set when it is
    exchanged for the next one; a second use is a replay and revokes the grant."""

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OAuthCode(Base):
    """An authorization code (sha256 only), good once for a short time, bound to the client,
    redirect URI and PKCE challenge of its request. ``grant_id`` is the grant it became."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(String(1024))
    code_challenge: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(255), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_grants.id", ondelete="SET NULL"), nullable=True)


class OAuthDeviceCode(Base):
    """An RFC 8628 device authorization: the device code (sha256 only) the client polls
    with, and the short user code (sha256 only) a signed-in user types on the device page."""

    __tablename__ = "oauth_device_codes"

    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(1024))
    interval_s: Mapped[int] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    last_poll_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    approved_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    denied_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_grants.id", ondelete="SET NULL"), nullable=True)


class OAuthSigningKey(Base):
    """An RSA key that signs access and ID tokens. Shared by every server process through
    the database. The newest unretired key signs; retired keys stay published in the JWKS
    (and accepted) until every token they signed has expired, then are deleted.
    ``private_pem`` is PKCS#8, encrypted with ``oauth_key_secret`` when ``encrypted``."""

    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    retired_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
