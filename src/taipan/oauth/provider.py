"""The OAuth provider one running Taipan shares: its issuer, key ring and token signer, and
the use-cases the web layer calls (each a few lines over flows, sessions and tokens)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taipan.accounts.principal import Principal
from taipan.db.engine import Database
from taipan.errors import Unauthenticated
from taipan.oauth import clients, flows, scopes, sessions
from taipan.oauth.clients import Client
from taipan.oauth.errors import OAuthError, invalid_request
from taipan.oauth.flows import Granted
from taipan.oauth.signing import ALGORITHM, KeyRing
from taipan.oauth.tokens import TokenSigner, looks_like_access_token
from taipan.settings import Settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class Tokens:
    """A token response (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None
    id_token: str | None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.id_token:
            body["id_token"] = self.id_token
        return body


class OAuthProvider:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.issuer = settings.public_url
        self.keys = KeyRing(
            db,
            rotation_s=settings.oauth_key_rotation_days * 86400,
            token_ttl_s=settings.oauth_access_token_ttl,
            secret=settings.oauth_key_secret.get_secret_value(),
        )
        self.signer = TokenSigner(self.keys, self.issuer, settings.oauth_access_token_ttl)

    # -- discovery -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.issuer + path

    def discovery(self) -> dict[str, Any]:
        """OpenID Connect discovery (and RFC 8414): what rattler's client reads."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/oauth/authorize"),
            "token_endpoint": self.url("/oauth/token"),
            "device_authorization_endpoint": self.url("/oauth/device_authorization"),
            "revocation_endpoint": self.url("/oauth/revoke"),
            "userinfo_endpoint": self.url("/oauth/userinfo"),
            "jwks_uri": self.url("/oauth/jwks"),
            "scopes_supported": list(scopes.SUPPORTED),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "preferred_username"],
            "authorization_response_iss_parameter_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    # -- access tokens as credentials ---------------------------------------------------------------

    def principal_for_access_token(self, token: str) -> Principal:
        return sessions.principal_for_access(self.db, self.signer.verify_access(token))

    # -- the token endpoint ----------------------------------------------------------------------------

    def token(self, form: Mapping[str, str], client_secret: str | None) -> Tokens:
        """Answer a token request (the form's fields, already single-valued)."""
        client = clients.authenticate(self.db, form.get("client_id", ""), client_secret)
        grant_type = form.get("grant_type", "")
        ttl = self.settings.oauth_refresh_token_ttl
        if grant_type == "authorization_code":
            granted = flows.exchange_code(
                self.db, client, form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier", ""), ttl
            )
        elif grant_type == DEVICE_GRANT:
            granted = flows.poll_device(self.db, client, form.get("device_code", ""), ttl)
        elif grant_type == "refresh_token":
            granted = flows.refresh(self.db, client, form.get("refresh_token", ""), form.get("scope"), ttl)
        elif not grant_type:
            raise invalid_request("the request has no grant_type")
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type[:100]!r} is not supported here")
        return self._tokens(granted)

    def _tokens(self, granted: Granted) -> Tokens:
        scope = granted.scope
        access = self.signer.access_token(
            granted.user_id, granted.username, granted.grant_id, granted.client_id, scope.text
        )
        id_token = (
            self.signer.id_token(
                granted.user_id, granted.username, granted.client_id, granted.nonce, scopes.PROFILE in scope.names
            )
            if scope.openid
            else None
        )
        return Tokens(access, self.settings.oauth_access_token_ttl, scope.text, granted.refresh_token, id_token)

    # -- device authorization --------------------------------------------------------------------------

    def start_device(self, form: Mapping[str, str], client_secret: str | None) -> dict[str, Any]:
        client = clients.authenticate(self.db, form.get("client_id", ""), client_secret)
        scope = scopes.parse(form.get("scope"))
        started = flows.start_device(
            self.db, client, scope, self.settings.oauth_device_code_ttl, self.settings.oauth_device_poll_interval
        )
        page = self.url("/oauth/device")
        return {
            "device_code": started.device_code,
            "user_code": started.user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={started.user_code}",
            "expires_in": started.expires_in,
            "interval": started.interval,
        }

    # -- revocation (RFC 7009) -------------------------------------------------------------------------

    def revoke(self, form: Mapping[str, str], client_secret: str | None) -> None:
        """Revoke the grant of a refresh or access token. Unknown tokens are no error (§2.2)."""
        client = clients.authenticate(self.db, form.get("client_id", ""), client_secret)
        token = form.get("token", "")
        if not token:
            raise invalid_request("the request has no token")
        if looks_like_access_token(token):
            try:
                claims = self.signer.verify_access(token)
            except Unauthenticated:
                return  # expired or not ours: nothing left to revoke
            sessions.revoke_grant_of_access(self.db, client, claims)
            return
        sessions.revoke_refresh_token(self.db, client, token)

    def client(self, client_id: str) -> Client | None:
        return clients.find(self.db, client_id)
