"""Trusted publishing: CI identities a channel's owner trusts to upload with an OIDC token.

``publishers`` holds the use-cases (trust a publisher, trade a token for an upload key),
``claims`` matches a verified token's claims to a publisher (pure), and ``oidc`` verifies
tokens against their issuers' published keys (the one HTTP client below the entry points).
"""
