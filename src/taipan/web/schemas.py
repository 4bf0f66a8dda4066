"""Response models several routers share."""

from __future__ import annotations

from pydantic import BaseModel

from taipan.accounts.audit import Event


class EventOut(BaseModel):
    at_ms: int
    actor: str
    action: str
    channel: str | None
    target: str | None
    detail: str
    address: str | None


def event_out(event: Event) -> EventOut:
    return EventOut(**vars(event))
