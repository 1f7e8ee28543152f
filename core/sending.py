"""The workers' side of the outbox: taking rows to send, the retry timing, and the
rows whose broker message may have been lost.

A row is ``pending`` until a worker claims it (``sending``, with the claiming process
and time), then ``sent``, ``failed`` or ``parked`` (``workers.jobs``). A claim by a
process that is no longer alive, or older than ``SENDING_LEASE``, can be taken again.
What a delivery is and when one is written is in ``core.outbox``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import processes
from core.db import hand_over_again
from core.models import DeliveryStatus, OutboxDelivery

SENDING_LEASE = timedelta(minutes=5)  # the last resort: a claim by no known process


def _reclaimable(now: datetime) -> ColumnElement[bool]:
    """A row being sent by a process that is no longer alive (or for far too long)."""
    return (OutboxDelivery.status == DeliveryStatus.SENDING) & (
        (OutboxDelivery.claimed_at < now - SENDING_LEASE)
        | OutboxDelivery.claimed_by.not_in(processes.alive(now))
    )


def claim_many(
    session: Session, row_ids: list[int], now: datetime, by: str = ""
) -> list[OutboxDelivery]:
    """Take rows for sending, in one statement, for process ``by``; returns those
    taken (not the ones done, not yet due, or held by a live process)."""
    if not row_ids:
        return []
    return list(
        session.execute(
            update(OutboxDelivery)
            .where(
                OutboxDelivery.id.in_(row_ids),
                or_(OutboxDelivery.status == DeliveryStatus.PENDING, _reclaimable(now)),
                or_(OutboxDelivery.not_before.is_(None), OutboxDelivery.not_before <= now),
            )
            .values(
                status=DeliveryStatus.SENDING,
                claimed_at=now,
                claimed_by=by or None,
                attempts=OutboxDelivery.attempts + 1,
            )
            .returning(OutboxDelivery)
            .execution_options(synchronize_session=False, populate_existing=True)
        ).scalars()
    )


def backoff(first_seconds: float, attempt: int) -> float:
    return min(first_seconds * (2 ** max(0, attempt - 1)), 900.0)


def waited(row: OutboxDelivery, now: datetime) -> float:
    """Seconds since the row was first due (written, or its ``not_before``)."""
    since = max(row.created_at, row.not_before) if row.not_before else row.created_at
    return (now - since).total_seconds()


def retrying(session: Session, channel: str, now: datetime, limit: int = 1000) -> list[int]:
    """Pending rows on ``channel`` waiting for a retry time still ahead (backing off)."""
    return list(
        session.execute(
            select(OutboxDelivery.id)
            .where(
                OutboxDelivery.channel == channel,
                OutboxDelivery.status == DeliveryStatus.PENDING,
                OutboxDelivery.next_attempt_at > now,
                or_(OutboxDelivery.not_before.is_(None), OutboxDelivery.not_before <= now),
            )
            .order_by(OutboxDelivery.id)
            .limit(limit)
        ).scalars()
    )


def due_for_redelivery(
    session: Session, now: datetime, older_than: timedelta, limit: int = 500, after_id: int = 0
) -> list[int]:
    """Rows whose broker message may have been lost; marks them as sent to the broker again.

    A pending row is overdue when it has been due (since it was written, its retry
    time, or the sweep last re-sent it) for longer than ``older_than``; a row in
    ``sending`` whose process is no longer alive belongs to a worker that died
    mid-send (``core.processes``: seconds, not minutes).
    """
    cutoff = now - older_than
    due_since = func.coalesce(
        OutboxDelivery.enqueued_at,
        OutboxDelivery.next_attempt_at,
        OutboxDelivery.not_before,
        OutboxDelivery.created_at,
    )
    return hand_over_again(
        session,
        OutboxDelivery,
        or_(
            (OutboxDelivery.status == DeliveryStatus.PENDING) & (due_since < cutoff),
            _reclaimable(now),
        ),
        now=now,
        limit=limit,
        after_id=after_id,
    )
