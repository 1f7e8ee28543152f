"""Claiming due rows for the clock: several clocks may run at once.

``claim_due`` takes the tickets whose ``column`` time has passed (an indexed
column; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two clocks never take the same
ticket), pushes that time a lease ahead (a job lost on the way is picked up again
when the lease runs out) and, after the commit, hands them to ``job`` in batches.
The SLA watch (``next_checkpoint_at``) and the desk rules (``rule_due_at``) use it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core.context import Context
from core.db import after_commit
from core.models import Ticket


def claim_due(
    ctx: Context, column: Any, job: str, *, lease: timedelta, batch: int, per_job: int
) -> list[int]:
    """Claim up to ``batch`` due tickets and send them to ``job``, ``per_job`` ids
    ("12,13,14") a message; returns the ids claimed."""
    now = ctx.now()
    with ctx.db.transaction() as session:
        query = select(Ticket.id).where(column <= now).order_by(column).limit(batch)
        if ctx.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.execute(query).scalars())
        if ids:
            session.execute(
                update(Ticket)
                .where(Ticket.id.in_(ids))
                .values({column.key: now + lease})
                .execution_options(synchronize_session=False)
            )
            batches = [
                ",".join(str(i) for i in sorted(ids[k : k + per_job]))
                for k in range(0, len(ids), per_job)
            ]

            def hand_over() -> None:
                for each in batches:
                    ctx.dispatcher.send(job, each)

            after_commit(session, hand_over)
    return ids
