"""Taipan as an OAuth 2 / OpenID Connect provider, for ``pixi auth login --oauth`` and rattler.

Authorization code with PKCE (S256 only), the device flow (RFC 8628), refresh tokens that
rotate (a replayed one revokes its grant), revocation (RFC 7009) and RS256-signed access
and ID tokens whose keys live in the database. Nothing here knows HTTP: the web layer
parses requests, calls these use-cases and maps :class:`~taipan.oauth.errors.OAuthError`.
"""
