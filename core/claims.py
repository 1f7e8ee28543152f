"""Claiming due rows for the clock: several clocks may run at once.

``claim_due`` takes the tickets whose ``column`` time has passed (an indexed
column; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two clocks never take the same
ticket), pushes that time a lease ahead (a job lost on the way is picked up again
when the lease runs out) and, after the commit, hands them to ``job`` in batches.
The SLA watch (``next_checkpoint_at``) and the desk rules (``rule_due_at``) use it,
and the two pieces their jobs share: ``lock_claimed`` (the batch's tickets and audit
chain heads, locked in id order) and ``each_alone`` (after a failed batch, every
ticket on its own, so one bad ticket holds up nobody else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
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


def lock_claimed(session: Session, ticket_ids: list[int]) -> list[Ticket]:
    """The tickets, read afresh and locked with their audit chain heads, one statement
    each, in id order (every batch locks in that order, so two never deadlock)."""
    tickets = list(
        session.execute(
            select(Ticket)
            .where(Ticket.id.in_(ticket_ids))
            .order_by(Ticket.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )
    audit.lock_heads(session, [t.id for t in tickets])
    return tickets


def each_alone(
    ticket_ids: list[int], run: Callable[[int], list[str]], what: str, log: logging.Logger
) -> list[str]:
    """After a batch of ``what`` failed: ``run`` each ticket on its own; one that fails
    again is logged and left for the clock's next claim."""
    log.exception("%s batch failed; running its tickets one by one", what)
    done: list[str] = []
    for ticket_id in ticket_ids:
        try:
            done.extend(run(ticket_id))
        except Exception:
            log.exception("%s for ticket %s failed; the clock will try again", what, ticket_id)
    return done
