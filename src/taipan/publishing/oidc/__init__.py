"""OpenID Connect: verify CI identity tokens against their issuers' published keys."""
