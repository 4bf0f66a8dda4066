"""Verify OIDC identity tokens: the signature against the issuer's published keys, then
the issuer, the times and the audience.

Only configured issuers are ever asked for keys, so a token cannot make the server fetch
from a place of its choosing. Keys are cached per issuer and fetched again when a token
names a key id the cache does not hold (an issuer rotating its keys), at most once per
``refetch_interval`` per issuer so that made-up key ids cannot turn the server into a
load generator against the issuer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from taipan.errors import Unauthenticated, Unavailable
from taipan.publishing.oidc.source import JwksSource

log = logging.getLogger(__name__)

# Asymmetric algorithms only, each bound to the key type that can carry it: a key set
# never makes the server accept "none" or an HMAC "signed" with a public key.
ALGORITHMS: Mapping[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
}
LEEWAY_S = 60
"""Clock skew allowed on exp, nbf and iat."""
MAX_AGE_S = 3600.0
"""Keys are fetched again at least this often, so a key an issuer withdrew stops working."""
MAX_TOKEN_CHARS = 16 * 1024


class InvalidToken(Unauthenticated):
    """The token failed one check; ``check`` names it (expired, audience, signature, ...)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"the OIDC token was refused ({check}): {message}")
        self.check = check


@dataclass(frozen=True)
class VerifiedToken:
    provider: str
    """The name the issuer is configured under: github, gitlab, google."""
    issuer: str
    """The configured issuer URL."""
    claims: Mapping[str, Any]


@dataclass
class _Entry:
    keys: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    fetched: float | None = None
    """When the keys were last fetched successfully (None: never)."""
    attempted: float | None = None
    """When a fetch was last tried (None: never)."""


class KeyCache:
    """Each issuer's signing keys by key id, fetched through a JwksSource and kept a while."""

    def __init__(
        self,
        source: JwksSource,
        *,
        refetch_interval: float = 30.0,
        max_age: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def key(self, issuer: str, kid: str) -> Mapping[str, Any] | None:
        """The JWK ``kid`` of ``issuer``, or None if the issuer does not publish it.

        Raises Unavailable only when the issuer's keys have never been fetched: tried at
        most once per refetch interval, so an issuer that is down is not hammered either.
        """
        with self._lock(issuer):
            entry = self._entries.setdefault(issuer, _Entry())
            now = self._clock()
            may_fetch = entry.attempted is None or now - entry.attempted >= self._refetch_interval
            stale = entry.fetched is None or now - entry.fetched >= self._max_age
            if may_fetch and (stale or kid not in entry.keys):
                self._refresh(issuer, entry, now)
            if entry.fetched is None:
                raise Unavailable(f"the signing keys of {issuer} cannot be fetched; try again later")
            return entry.keys.get(kid)

    def _refresh(self, issuer: str, entry: _Entry, now: float) -> None:
        entry.attempted = now
        try:
            document = self._source.fetch(issuer)
        except Unavailable as exc:
            if entry.fetched is None:
                raise Unavailable(f"the signing keys of {issuer} cannot be fetched now ({exc})") from exc
            log.warning("keeping the cached keys of %s: %s", issuer, exc)
            return
        entry.keys = _usable_keys(document)
        entry.fetched = now

    def _lock(self, issuer: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(issuer, threading.Lock())


def _usable_keys(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    keys = document.get("keys")
    usable: dict[str, Mapping[str, Any]] = {}
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("kty") in ALGORITHMS and jwk.get("use", "sig") == "sig":
            usable[jwk["kid"]] = jwk
    return usable


def normalize_issuer(issuer: str) -> str:
    """Issuer URLs compare without a trailing slash; Google also signs ``accounts.google.com`` bare."""
    issuer = issuer.strip().rstrip("/")
    return issuer if issuer.startswith(("https://", "http://")) else f"https://{issuer}"


class TokenVerifier:
    """Checks a token from one of the configured issuers; the claims are then the caller's to match."""

    def __init__(
        self, issuers: Mapping[str, str], audiences: Sequence[str], keys: KeyCache, *, leeway: int = LEEWAY_S
    ) -> None:
        """``issuers`` maps a provider name to its issuer URL; ``audiences`` are the accepted ``aud`` values."""
        self._providers = {normalize_issuer(url): provider for provider, url in issuers.items()}
        self._audiences = list(audiences)
        self._keys = keys
        self._leeway = leeway

    def verify(self, token: str) -> VerifiedToken:
        header, unverified = _peek(token)
        raw_issuer = unverified.get("iss")
        issuer = normalize_issuer(raw_issuer) if isinstance(raw_issuer, str) else ""
        provider = self._providers.get(issuer)
        if provider is None or not isinstance(raw_issuer, str):
            raise InvalidToken("issuer", f"tokens from issuer {raw_issuer!r} are not accepted by this server")
        key = self._key(issuer, header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audiences,
                issuer=raw_issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _refusal(exc, self._audiences) from None
        return VerifiedToken(provider, issuer, claims)

    def _key(self, issuer: str, header: Mapping[str, Any]) -> jwt.PyJWK:
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown key", "the token names no signing key (kid)")
        jwk = self._keys.key(issuer, kid)
        if jwk is None:
            raise InvalidToken("unknown key", f"{issuer} publishes no signing key {kid!r}")
        if alg not in ALGORITHMS[jwk["kty"]] or jwk.get("alg", alg) != alg:
            raise InvalidToken("signature", f"algorithm {alg!r} does not fit signing key {kid!r}")
        try:
            return jwt.PyJWK(dict(jwk), algorithm=alg)
        except jwt.PyJWTError:
            raise InvalidToken("unknown key", f"signing key {kid!r} of {issuer} is not usable") from None


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before any check: only to learn which issuer and key to check against."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed", "the token is empty or too long")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("malformed", "the token is not a JSON Web Token") from None
    return header, claims


def _refusal(exc: jwt.PyJWTError, audiences: Sequence[str]) -> InvalidToken:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return InvalidToken("expired", "the token has expired")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return InvalidToken("not yet valid", "the token is not valid yet (nbf or iat lies in the future)")
    if isinstance(exc, jwt.InvalidAudienceError):
        accepted = " or ".join(repr(a) for a in audiences)
        return InvalidToken("audience", f"the token's audience must be {accepted}")
    if isinstance(exc, jwt.InvalidIssuerError):
        return InvalidToken("issuer", "the token's issuer does not match")
    if isinstance(exc, jwt.InvalidSignatureError):
        return InvalidToken("signature", "the signature does not verify")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return InvalidToken("missing claim", f"the token has no {exc.claim!r} claim")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return InvalidToken("signature", str(exc))
    return InvalidToken("malformed", str(exc))
