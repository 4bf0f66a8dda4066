"""Access and ID tokens: RS256 JWTs signed with the key ring's current key (PyJWT).

An access token (header ``typ: at+jwt``, RFC 9068) names its user (``sub``), grant
(``sid``), client and scope, with this server as issuer and audience. It is checked
against its grant on every request (see :mod:`taipan.oauth.sessions`), so revoking a
grant or removing the user from a channel takes effect at once; the expiry only bounds
how long a stolen token could be replayed. ID tokens (``typ: JWT``, audience = the
client) only tell the client who signed in and are never accepted as credentials.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from taipan.errors import Unauthenticated
from taipan.oauth.signing import ALGORITHM, KeyRing

ACCESS_TYP = "at+jwt"
MAX_TOKEN_CHARS = 8192
LEEWAY_S = 30


def looks_like_access_token(value: str) -> bool:
    """Whether ``value`` is shaped like one of our access tokens (not whether it is valid)."""
    if not value.startswith("eyJ") or value.count(".") != 2 or len(value) > MAX_TOKEN_CHARS:
        return False
    try:
        header = jwt.get_unverified_header(value)
    except jwt.InvalidTokenError:
        return False
    return header.get("typ") == ACCESS_TYP


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    grant_id: int
    client_id: str
    scope: str


class TokenSigner:
    def __init__(self, keys: KeyRing, issuer: str, access_ttl_s: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.access_ttl_s = access_ttl_s

    def _sign(self, claims: Mapping[str, Any], typ: str) -> str:
        key = self.keys.current()
        return jwt.encode(dict(claims), key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": typ})

    def access_token(self, user_id: int, username: str, grant_id: int, client_id: str, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": str(user_id),
            "preferred_username": username,
            "client_id": client_id,
            "sid": str(grant_id),
            "scope": scope,
            "iat": now,
            "exp": now + self.access_ttl_s,
            "jti": secrets.token_urlsafe(12),
        }
        return self._sign(claims, ACCESS_TYP)

    def id_token(self, user_id: int, username: str, client_id: str, nonce: str, profile: bool) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "sub": str(user_id),
            "iat": now,
            "auth_time": now,
            "exp": now + self.access_ttl_s,
        }
        if nonce:
            claims["nonce"] = nonce
        if profile:
            claims.update(preferred_username=username, name=username)
        return self._sign(claims, "JWT")

    def verify_access(self, token: str) -> AccessClaims:
        """The claims of a valid access token; Unauthenticated saying what is wrong otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TYP or header.get("alg") != ALGORITHM:
                raise Unauthenticated("the OAuth access token is not valid")
            key = self.keys.public_key(str(header.get("kid", "")))
            if key is None:
                raise Unauthenticated("the OAuth access token is signed with a key this server no longer knows")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.issuer,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "sid", "client_id"]},
            )
            return AccessClaims(
                int(claims["sub"]), int(claims["sid"]), str(claims["client_id"]), str(claims.get("scope", ""))
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the OAuth access token has expired: the client must refresh it") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthenticated("the OAuth access token is not valid") from None
