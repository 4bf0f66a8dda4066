"""The domain error tree. The web layer maps these to HTTP in exactly one place."""

from __future__ import annotations


class TaipanError(Exception):
    """Base of every error Taipan raises on purpose. ``str(err)`` is safe to show users."""


class NotFound(TaipanError):
    """The thing asked for does not exist (or the caller may not know that it does)."""


class Conflict(TaipanError):
    """The change would clash with what exists, e.g. a package file that is already there."""


class Unauthenticated(TaipanError):
    """No credential, or one that is not valid."""


class Forbidden(TaipanError):
    """The caller is known but may not do this."""


class InvalidInput(TaipanError):
    """A request is malformed: a bad name, a missing field."""


class InvalidPackage(InvalidInput):
    """An uploaded file is not an acceptable conda package."""


class ChecksumMismatch(InvalidPackage):
    """The bytes received do not hash to what the client said they would."""


class TooLarge(TaipanError):
    """A body or a member inside an archive is bigger than allowed."""


class Unavailable(TaipanError):
    """Something the server depends on (e.g. an OIDC issuer) cannot be reached now; worth retrying."""


class RateLimited(TaipanError):
    """Too many failed attempts; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
