"""What a client may ask for, and what a grant then allows.

``openid`` gets an ID token, ``profile`` the user's name in it, ``offline_access`` a
refresh token. The channel scopes are prefix.dev's names (rattler asks prefix.dev for
both): naming ``channel:read`` without ``channel:upload`` makes a read-only grant. With
no channel scope at all the grant acts with the user's own rights, which is what
``pixi auth login --oauth`` asks any other host for. Unknown scopes are refused, never
ignored: a mistyped read-only scope must not become a read-write grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from taipan.oauth.errors import OAuthError

OPENID = "openid"
PROFILE = "profile"
OFFLINE = "offline_access"
CHANNEL_READ = "channel:read"
CHANNEL_UPLOAD = "channel:upload"
SUPPORTED = (OPENID, PROFILE, OFFLINE, CHANNEL_READ, CHANNEL_UPLOAD)
MAX_SCOPE_CHARS = 1000


@dataclass(frozen=True)
class Scope:
    names: frozenset[str]

    @property
    def text(self) -> str:
        return " ".join(name for name in SUPPORTED if name in self.names)

    @property
    def read_only(self) -> bool:
        return CHANNEL_READ in self.names and CHANNEL_UPLOAD not in self.names

    @property
    def refreshable(self) -> bool:
        return OFFLINE in self.names

    @property
    def openid(self) -> bool:
        return OPENID in self.names

    def describe(self) -> list[str]:
        """What the grant lets the client do, in words for the consent page."""
        what = [
            "read the channels you can read"
            if self.read_only
            else "read, upload to and manage the channels as you can (your own rights, never more)"
        ]
        if self.openid:
            what.append("know your user name")
        if self.refreshable:
            what.append("stay signed in until you revoke it (refresh tokens)")
        return what


def parse(text: str | None) -> Scope:
    if text is not None and len(text) > MAX_SCOPE_CHARS:
        raise OAuthError("invalid_scope", f"the scope is longer than {MAX_SCOPE_CHARS} characters")
    names = frozenset((text or "").split())
    unknown = sorted(names - set(SUPPORTED))
    if unknown:
        raise OAuthError(
            "invalid_scope", f"unknown scope {' '.join(unknown)!r}: this server supports {' '.join(SUPPORTED)}"
        )
    return Scope(names)
