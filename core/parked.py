"""Parked items: inbound records kept for a human (``in-N``) and deliveries that ran
out of attempts or were refused for good (``out-N``); listed and retried the same
way from the API, the command line and any other face."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import intake, outbox
from core.context import Context
from core.errors import NotFound
from core.models import (
    DeliveryStatus,
    InboundRecord,
    InboundStatus,
    OutboxDelivery,
    as_id,
    format_number,
)
from core.tickets.views import iso


def listing(session: Session) -> list[dict[str, Any]]:
    """Inbound records kept for a human, and deliveries that ran out of attempts."""
    items: list[dict[str, Any]] = []
    for r in session.execute(
        select(InboundRecord)
        .where(InboundRecord.status == InboundStatus.PARKED)
        .order_by(InboundRecord.id)
    ).scalars():
        items.append(
            {
                "id": f"in-{r.id}",
                "kind": "inbound",
                "channel": r.channel,
                "external_id": r.external_id,
                "rule": (r.rules_fired or ["?"])[0],
                "reason": r.reason,
                "ticket": format_number(r.ticket_id) if r.ticket_id else None,
                "at": iso(r.decided_at or r.received_at),
                "attempts": r.attempts,
            }
        )
    for d in session.execute(
        select(OutboxDelivery)
        .where(OutboxDelivery.status.in_([DeliveryStatus.PARKED, DeliveryStatus.FAILED]))
        .order_by(OutboxDelivery.id)
    ).scalars():
        items.append(
            {
                "id": f"out-{d.id}",
                "kind": "delivery",
                "channel": d.channel,
                "external_id": d.key,
                "rule": d.status,
                "reason": d.last_error,
                "ticket": format_number(d.ticket_id) if d.ticket_id else None,
                "at": iso(d.created_at),
                "attempts": d.attempts,
            }
        )
    return items


def retry(ctx: Context, item_id: str) -> dict[str, Any]:
    """Retry ``in-N`` (an inbound record) or ``out-N`` (a delivery)."""
    kind, _, raw = item_id.partition("-")
    number = as_id(raw)
    if number is None or kind not in ("in", "out"):
        raise NotFound(f"'{item_id}' is not a parked item id (in-N or out-N)")
    if kind == "in":
        record = intake.retry(ctx, number)
        return {
            "id": item_id,
            "status": record.status,
            "outcome": record.outcome,
            "reason": record.reason,
            "ticket": format_number(record.ticket_id) if record.ticket_id else None,
        }
    outbox.requeue(ctx, number)
    return {"id": item_id, "status": DeliveryStatus.PENDING}
