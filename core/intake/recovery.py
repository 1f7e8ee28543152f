"""Inbound records whose hand-over to the workers may have been lost."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.orm import Session

from core.db import hand_over_again
from core.models import InboundRecord, InboundStatus


def due_for_redelivery(
    session: Session, now: datetime, older_than: timedelta, limit: int = 500, after_id: int = 0
) -> list[int]:
    """Pending records handed over (or stored) longer than ``older_than`` ago; marks them
    as handed over again. ``older_than=0`` takes every pending record (a restart)."""
    cutoff = now - older_than
    return hand_over_again(
        session,
        InboundRecord,
        InboundRecord.status == InboundStatus.PENDING,
        or_(InboundRecord.enqueued_at.is_(None), InboundRecord.enqueued_at <= cutoff),
        InboundRecord.received_at <= cutoff,
        now=now,
        limit=limit,
        after_id=after_id,
    )
