"""Minting API keys, whose channel scope is checked against the caller's own roles."""

from __future__ import annotations

from collections.abc import Mapping

from taipan.accounts import audit, keys
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.db.engine import Database
from taipan.db.models import now_ms
from taipan.errors import Forbidden, InvalidInput, Unauthenticated

MAX_EXPIRY_DAYS = 3650


def create_key(
    db: Database,
    principal: Principal | None,
    name: str,
    *,
    read_only: bool = False,
    channels: Mapping[str, Role | None] | None = None,
    expires_in_days: float | None = None,
    address: str | None = None,
) -> tuple[str, keys.KeyInfo]:
    """A new key for the caller. ``channels`` limits it to those channels (each up to a role,
    default the caller's own); a key can never do more, or last longer, than the credential
    that made it (see keys.within). Any member, a Viewer too, may mint a read-only key for a
    channel they can read."""
    access.refuse_publisher(principal, "make keys")
    if principal is None or principal.user_id is None:
        raise Unauthenticated(access.ANONYMOUS_MESSAGE)
    expires_ms = None
    if expires_in_days is not None:
        if not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
            raise InvalidInput(f"expiry must be between 0 and {MAX_EXPIRY_DAYS} days")
        expires_ms = now_ms() + int(expires_in_days * 86_400_000)
    with db.write() as session:
        caps: dict[int, Role] | None = None
        if channels:
            caps = {}
            for channel_name, wanted in channels.items():
                ref = access.require(session, principal, channel_name, Role.VIEWER)
                have = access.check(session, principal, ref, Role.VIEWER)
                role = wanted or have
                if role > have:
                    raise Forbidden(f"you have {have.label} in {channel_name!r}; a key cannot have {role.label}")
                caps[ref.id] = role
            read_only = read_only or all(r == Role.VIEWER for r in caps.values())
        wanted_grant = keys.Grant(read_only=read_only, channel_caps=caps, expires_ms=expires_ms)
        key, row = keys.mint(session, user_id=principal.user_id, name=name, grant=wanted_grant, parent=principal)
        info = keys.key_info(session, row)
        scope = ",".join(f"{c}:{r}" for c, r in (info.channels or {}).items()) or "all"
        audit.record(
            session,
            principal.username,
            "key_created",
            target=f"{row.id}:{name}",
            detail=f"read_only={info.read_only} channels={scope} expires_ms={info.expires_ms}",
            address=address,
        )
    return key, info
