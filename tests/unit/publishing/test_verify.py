"""TokenVerifier and KeyCache against the in-memory JwksSource: signatures, algorithms,
times, audiences, and when keys are fetched again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from taipan.errors import Unavailable
from taipan.publishing.oidc.source import StaticJwks
from taipan.publishing.oidc.verify import InvalidToken, KeyCache, TokenVerifier
from tests.support.oidc_issuer import SigningKey

ISSUER = "https://token.actions.example"
AUD = "conda.example.org"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.new("RSA")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.new("EC")


def _source(*keys: SigningKey, extra: list[dict[str, Any]] | None = None) -> StaticJwks:
    return StaticJwks({ISSUER: {"keys": [k.public_jwk() for k in keys] + (extra or [])}})


def _verifier(source: StaticJwks, clock: Clock | None = None, audiences: tuple[str, ...] = (AUD,)) -> TokenVerifier:
    cache = KeyCache(source, refetch_interval=30, clock=clock or Clock())
    return TokenVerifier({"github": ISSUER, "google": "https://accounts.google.com"}, audiences, cache)


def _token(key: SigningKey, kid: str | None = None, alg: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUD, "iat": now, "nbf": now, "exp": now + 300, "sub": "x", **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key.private, algorithm=alg or key.alg, headers={"kid": kid or key.kid})


def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.check


def test_good_tokens_with_rsa_and_ec_keys(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    verifier = _verifier(_source(rsa_key, ec_key))
    for key in (rsa_key, ec_key):
        verified = verifier.verify(_token(key, repository="o/r"))
        assert (verified.provider, verified.issuer, verified.claims["repository"]) == ("github", ISSUER, "o/r")


def test_times_have_a_small_leeway(rsa_key: SigningKey) -> None:
    verifier = _verifier(_source(rsa_key))
    now = int(time.time())
    assert verifier.verify(_token(rsa_key, iat=now - 400, exp=now - 30))
    assert verifier.verify(_token(rsa_key, nbf=now + 30))
    assert _refusal(verifier, _token(rsa_key, iat=now - 400, exp=now - 120)) == "expired"
    assert _refusal(verifier, _token(rsa_key, nbf=now + 120)) == "not yet valid"
    assert _refusal(verifier, _token(rsa_key, iat=now + 120, nbf=None)) == "not yet valid"
    for claim in ("exp", "iat", "aud"):
        assert _refusal(verifier, _token(rsa_key, **{claim: None})) == "missing claim"


def test_audiences(rsa_key: SigningKey) -> None:
    strict = _verifier(_source(rsa_key))
    assert _refusal(strict, _token(rsa_key, aud="prefix.dev")) == "audience"
    assert strict.verify(_token(rsa_key, aud=["other", AUD]))
    lenient = _verifier(_source(rsa_key), audiences=(AUD, "prefix.dev"))
    assert lenient.verify(_token(rsa_key, aud="prefix.dev"))


def test_only_configured_issuers(rsa_key: SigningKey) -> None:
    source = _source(rsa_key)
    verifier = _verifier(source)
    assert _refusal(verifier, _token(rsa_key, iss="https://evil.example")) == "issuer"
    assert _refusal(verifier, _token(rsa_key, iss=None)) == "issuer"
    assert source.fetches == []  # never asked anyone


def test_google_signs_its_bare_host_name(ec_key: SigningKey) -> None:
    source = StaticJwks({"https://accounts.google.com": {"keys": [ec_key.public_jwk()]}})
    verified = _verifier(source).verify(_token(ec_key, iss="accounts.google.com"))
    assert (verified.provider, verified.issuer) == ("google", "https://accounts.google.com")


def test_signatures_and_algorithms(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    verifier = _verifier(_source(rsa_key, ec_key))
    stranger = SigningKey.new("RSA")
    assert _refusal(verifier, _token(stranger, kid=rsa_key.kid)) == "signature"
    assert _refusal(verifier, _token(stranger)) == "unknown key"
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 300}
    assert _refusal(verifier, jwt.encode(claims, rsa_key.private, algorithm="RS256")) == "unknown key"  # no kid
    # The algorithm is the key's, not the token's: no EC header on an RSA key, no HMAC
    # "signed" with the public key (the classic confusion), no "none".
    assert _refusal(verifier, _token(ec_key, kid=rsa_key.kid)) == "signature"
    public_pem = rsa_key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert _refusal(verifier, _signed({"alg": "HS256", "kid": rsa_key.kid}, claims, public_pem)) == "signature"
    assert _refusal(verifier, _signed({"alg": "none", "kid": rsa_key.kid}, claims, None)) == "signature"
    assert _refusal(verifier, "a.b.c") == "malformed"
    assert _refusal(verifier, "") == "malformed"
    assert _refusal(verifier, "x" * 20_000) == "malformed"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: dict[str, str], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand, HMAC-SHA256 "signed" with ``secret`` (or unsigned)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest() if secret else b""
    return f"{signing_input}.{_b64(signature)}"


def test_usable_keys_only(rsa_key: SigningKey) -> None:
    unusable = [
        {**rsa_key.public_jwk(), "kid": "enc", "use": "enc"},
        {"kty": "oct", "kid": "sym", "k": _b64(b"secret")},
        {**rsa_key.public_jwk(), "kid": None},
        "not a key",
    ]
    verifier = _verifier(_source(extra=unusable))  # type: ignore[arg-type]  # deliberately not all JWK objects
    assert _refusal(verifier, _token(rsa_key, kid="enc")) == "unknown key"
    assert _refusal(verifier, _token(rsa_key, kid="sym", alg="RS256")) == "unknown key"


def test_unknown_kids_refetch_at_most_once_per_interval(rsa_key: SigningKey) -> None:
    source = _source(rsa_key)
    clock = Clock()
    verifier = _verifier(source, clock)
    assert verifier.verify(_token(rsa_key))
    assert len(source.fetches) == 1
    rotated = SigningKey.new("EC")
    source.sets[ISSUER] = {"keys": [rotated.public_jwk()]}
    clock.now += 5
    assert _refusal(verifier, _token(rotated)) == "unknown key"  # too soon after the last fetch
    assert _refusal(verifier, _token(SigningKey.new("RSA"))) == "unknown key"
    assert len(source.fetches) == 1
    clock.now += 30
    assert verifier.verify(_token(rotated))  # fetched again: the rotation is seen
    assert len(source.fetches) == 2
    assert _refusal(verifier, _token(rsa_key)) == "unknown key"  # the withdrawn key, asked within the interval
    assert len(source.fetches) == 2


def test_keys_are_refreshed_hourly_and_kept_when_the_issuer_is_down(rsa_key: SigningKey) -> None:
    source = _source(rsa_key)
    clock = Clock()
    verifier = _verifier(source, clock)
    assert verifier.verify(_token(rsa_key))
    clock.now += 3599
    assert verifier.verify(_token(rsa_key))
    assert len(source.fetches) == 1
    clock.now += 2
    del source.sets[ISSUER]  # the issuer is down at the hourly refresh: the cached keys still work
    assert verifier.verify(_token(rsa_key))
    assert len(source.fetches) == 2
    assert verifier.verify(_token(rsa_key))  # and the next try waits for the refetch interval
    assert len(source.fetches) == 2


def test_an_issuer_never_reached_is_unavailable(rsa_key: SigningKey) -> None:
    source = StaticJwks()
    clock = Clock()
    verifier = _verifier(source, clock)
    for _ in range(3):
        with pytest.raises(Unavailable):
            verifier.verify(_token(rsa_key))
    assert len(source.fetches) == 1  # not hammered while it is down
    source.sets[ISSUER] = {"keys": [rsa_key.public_jwk()]}
    clock.now += 31
    assert verifier.verify(_token(rsa_key))
