"""OAuth's own error answers (RFC 6749 §5.2, RFC 8628 §3.5), as domain errors."""

from __future__ import annotations

from taipan.errors import TaipanError


class OAuthError(TaipanError):
    """A refused OAuth request. ``code`` is the RFC's ``error`` value; ``str()`` the description.

    The token endpoint answers it as ``{"error": code, "error_description": str(err)}``
    (400, or 401 for ``invalid_client``); the authorization endpoint, where the redirect URI
    is trusted, sends it back to the client in the redirect.
    """

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description)
