"""Token signing keys: RSA, in the database, shared by every server process.

The newest unretired key signs. It is replaced when older than the rotation period (by
whichever process signs first after that) or on an administrator's request; the keys it
replaces are *retired*: they sign nothing more but stay published in the JWKS, and keep
verifying, until every token they can have signed has expired. So rotating logs nobody
out. Each process caches what it read for ``CACHE_S`` seconds; a retired key is kept
that much longer, because another process may sign with it until its cache turns over.

Private keys are PKCS#8 PEM, encrypted with ``oauth_key_secret`` when it is set (a
database dump or backup then does not let its reader forge tokens); without it they are
stored as they are, as safe as the database itself.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import delete, or_, select, update

from taipan.db.engine import Database
from taipan.db.models import OAuthSigningKey, now_ms
from taipan.errors import Unavailable

ALGORITHM = "RS256"
CACHE_S = 60.0
RSA_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    created_ms: int


@dataclass(frozen=True)
class _Public:
    key: Any
    usable_until_ms: int | None
    loaded: float


class KeyRing:
    def __init__(
        self,
        db: Database,
        *,
        rotation_s: float,
        token_ttl_s: int,
        secret: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._rotation_ms = int(rotation_s * 1000)
        self._keep_ms = int((token_ttl_s + 2 * CACHE_S) * 1000)
        """How long a retired key stays published: the longest token it signed, plus cache turnover."""
        self._secret = secret.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[SigningKey, float] | None = None
        self._public: dict[str, _Public] = {}

    # -- signing -----------------------------------------------------------------------------

    def current(self) -> SigningKey:
        """The key to sign with now (made, or rotated, when needed)."""
        with self._lock:
            cached = self._current
            if cached and self._clock() - cached[1] < CACHE_S and not self._stale(cached[0]):
                return cached[0]
        key = self._load_current()
        if key is None or self._stale(key):
            key = self.rotate(only_if_stale=True)
        with self._lock:
            self._current = (key, self._clock())
        return key

    def _stale(self, key: SigningKey) -> bool:
        return now_ms() - key.created_ms >= self._rotation_ms

    def _load_current(self) -> SigningKey | None:
        with self._db.read() as session:
            row = session.scalars(
                select(OAuthSigningKey)
                .where(OAuthSigningKey.retired_ms.is_(None))
                .order_by(OAuthSigningKey.created_ms.desc(), OAuthSigningKey.kid.desc())
                .limit(1)
            ).first()
            return self._private(row) if row else None

    def rotate(self, *, only_if_stale: bool = False) -> SigningKey:
        """Make a new signing key and retire the others (their tokens stay valid)."""
        with self._db.write() as session:
            if only_if_stale:
                # Another process may have rotated meanwhile: the write lock makes this check safe on SQLite.
                newest = session.scalars(
                    select(OAuthSigningKey)
                    .where(OAuthSigningKey.retired_ms.is_(None))
                    .order_by(OAuthSigningKey.created_ms.desc())
                    .limit(1)
                ).first()
                if newest is not None and now_ms() - newest.created_ms < self._rotation_ms:
                    return self._private(newest)
            now = now_ms()
            session.execute(
                delete(OAuthSigningKey).where(
                    OAuthSigningKey.retired_ms.is_not(None), OAuthSigningKey.retired_ms < now - self._keep_ms
                )
            )
            session.execute(update(OAuthSigningKey).where(OAuthSigningKey.retired_ms.is_(None)).values(retired_ms=now))
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
            kid = secrets.token_urlsafe(12)
            encryption: serialization.KeySerializationEncryption = (
                serialization.BestAvailableEncryption(self._secret) if self._secret else serialization.NoEncryption()
            )
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
            jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            jwk.update(kid=kid, use="sig", alg=ALGORITHM)
            row = OAuthSigningKey(
                kid=kid,
                private_pem=pem.decode("ascii"),
                public_jwk=json.dumps(jwk),
                encrypted=bool(self._secret),
                created_ms=now,
            )
            session.add(row)
        with self._lock:
            self._current = None
        return SigningKey(kid, private, now)

    def _private(self, row: OAuthSigningKey) -> SigningKey:
        if row.encrypted and not self._secret:
            raise Unavailable("the OAuth signing keys are encrypted: set oauth_key_secret (TAIPAN_OAUTH_KEY_SECRET)")
        try:
            key = serialization.load_pem_private_key(
                row.private_pem.encode("ascii"), password=self._secret if row.encrypted else None
            )
        except (ValueError, TypeError) as exc:
            raise Unavailable(
                "the OAuth signing key cannot be read: is oauth_key_secret the one it was made with?"
            ) from exc
        assert isinstance(key, rsa.RSAPrivateKey)
        return SigningKey(row.kid, key, row.created_ms)

    # -- verifying and publishing --------------------------------------------------------------

    def public_key(self, kid: str) -> Any | None:
        """The public key of ``kid`` if it may still verify tokens, else None."""
        with self._lock:
            cached = self._public.get(kid)
        if cached is None or self._clock() - cached.loaded >= CACHE_S:
            cached = self._load_public(kid)
            with self._lock:
                if len(self._public) > 1000:
                    self._public.clear()  # made-up kids must not grow the cache without bound
                self._public[kid] = cached
        if cached.key is None:
            return None
        if cached.usable_until_ms is not None and cached.usable_until_ms <= now_ms():
            return None
        return cached.key

    def _load_public(self, kid: str) -> _Public:
        if len(kid) > 64:
            return _Public(None, None, self._clock())
        with self._db.read() as session:
            row = session.get(OAuthSigningKey, kid)
            if row is None:
                return _Public(None, None, self._clock())
            until = row.retired_ms + self._keep_ms if row.retired_ms is not None else None
            return _Public(RSAAlgorithm.from_jwk(row.public_jwk), until, self._clock())

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The key set to publish: the signing key and the retired ones still in use."""
        self.current()  # a first key exists before anyone asks which keys to trust
        cutoff = now_ms() - self._keep_ms
        with self._db.read() as session:
            rows = session.scalars(
                select(OAuthSigningKey)
                .where(or_(OAuthSigningKey.retired_ms.is_(None), OAuthSigningKey.retired_ms > cutoff))
                .order_by(OAuthSigningKey.created_ms.desc())
            ).all()
            return {"keys": [json.loads(row.public_jwk) for row in rows]}
