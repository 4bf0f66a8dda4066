"""What a channel shows of itself on web pages beyond its description: its avatar."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import Channel
from taipan.errors import InvalidInput

MAX_AVATAR_URL = 2048


def check_avatar_url(url: str) -> str:
    """The URL, trimmed, if it is empty or an absolute http(s) URL (never ``javascript:`` or ``data:``)."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if len(url) > MAX_AVATAR_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"the avatar must be an http(s) image URL of at most {MAX_AVATAR_URL} characters")
    if any(c.isspace() or c in "\"'<>" for c in url):
        raise InvalidInput("the avatar URL has characters a URL may not contain")
    return url


def set_avatar(db: Database, principal: Principal | None, channel: str, url: str) -> str:
    """Set (or clear, with "") the channel's avatar URL; owners only."""
    url = check_avatar_url(url)
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.OWNER)
        row = session.get(Channel, ref.id)
        assert row is not None
        row.avatar_url = url
    return url


def avatar_url(db: Database, principal: Principal | None, channel: str) -> str:
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.VIEWER)
        return session.scalar(select(Channel.avatar_url).where(Channel.id == ref.id)) or ""
