"""Inbound records whose hand-over to the workers may have been lost."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.models import InboundRecord, InboundStatus


def due_for_redelivery(
    session: Session, now: datetime, older_than: timedelta, limit: int = 500, after_id: int = 0
) -> list[int]:
    """Pending records handed over (or stored) longer than ``older_than`` ago; marks them
    as handed over again. ``older_than=0`` takes every pending record (a restart)."""
    cutoff = now - older_than
    ids = list(
        session.execute(
            select(InboundRecord.id)
            .where(
                InboundRecord.id > after_id,
                InboundRecord.status == InboundStatus.PENDING,
                or_(InboundRecord.enqueued_at.is_(None), InboundRecord.enqueued_at <= cutoff),
                InboundRecord.received_at <= cutoff,
            )
            .order_by(InboundRecord.id)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(
            update(InboundRecord)
            .where(InboundRecord.id.in_(ids))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
