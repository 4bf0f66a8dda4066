"""The audit log: security-relevant events, written in the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from taipan.db.engine import Database
from taipan.db.models import AuditEvent, now_ms


@dataclass(frozen=True)
class Event:
    at_ms: int
    actor: str
    action: str
    channel: str | None
    target: str | None
    detail: str
    address: str | None


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    channel: str | None = None,
    target: str | None = None,
    detail: str = "",
    address: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            at_ms=now_ms(), actor=actor, action=action, channel=channel, target=target, detail=detail, address=address
        )
    )


def record_many(
    session: Session, actor: str, action: str, channel: str | None, targets: Sequence[tuple[str, str]]
) -> None:
    """:func:`record` of one action on many (target, detail) pairs, in one statement."""
    if targets:
        at = now_ms()
        rows = [
            {"at_ms": at, "actor": actor, "action": action, "channel": channel, "target": target, "detail": detail}
            for target, detail in targets
        ]
        session.execute(insert(cast(Table, AuditEvent.__table__)), rows)


def events(
    db: Database, *, channel: str | None = None, since_ms: int = 0, limit: int = 100, before_id: int | None = None
) -> list[Event]:
    """Newest first. ``channel`` narrows to one channel's events since ``since_ms``."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(AuditEvent.channel == channel, AuditEvent.at_ms >= since_ms)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    with db.read() as session:
        rows = session.scalars(query).all()
    return [Event(r.at_ms, r.actor, r.action, r.channel, r.target, r.detail, r.address) for r in rows]
