"""SLA deadlines for a ticket, from its priority's targets.

This is the foundation's wall-clock version: due times are the ticket's start plus
the priority's target, the response clock stops at acknowledgement or the first
public reply, resolution stops at resolve. Business calendars and pauses build on
``refresh`` without changing its callers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.context import Context
from core.lifecycle import CLOSED, RESOLVED
from core.models import Ticket


def refresh(ctx: Context, ticket: Ticket) -> None:
    """Recompute due times and the next checkpoint the clock must look at."""
    target = ctx.policy.sla.get(ticket.priority)
    ticket.sla_policy = ticket.priority if target else None
    start = ticket.created_at
    if target is None:
        ticket.response_due_at = ticket.resolution_due_at = ticket.next_checkpoint_at = None
        return
    ticket.response_due_at = start + timedelta(minutes=target.response_minutes) if target.response_minutes else None
    ticket.resolution_due_at = start + timedelta(minutes=target.resolution_minutes) if target.resolution_minutes else None
    checkpoints: list[datetime] = []
    if ticket.response_due_at and not (ticket.first_response_at or ticket.acknowledged_at):
        checkpoints.append(ticket.response_due_at)
    if ticket.resolution_due_at and ticket.status not in (RESOLVED, CLOSED):
        checkpoints.append(ticket.resolution_due_at)
    ticket.next_checkpoint_at = min(checkpoints) if checkpoints else None


def state(ctx: Context, ticket: Ticket, now: datetime | None = None) -> str:
    """green, yellow (at risk: 75% of the target used) or red (breached)."""
    now = now or ctx.now()
    worst = "green"
    for due, done in (
        (ticket.response_due_at, ticket.first_response_at or ticket.acknowledged_at),
        (ticket.resolution_due_at, ticket.resolved_at),
    ):
        if due is None:
            continue
        end = done or now
        if end > due:
            return "red"
        if done is None:
            total = (due - ticket.created_at).total_seconds()
            used = (now - ticket.created_at).total_seconds()
            if total > 0 and used / total >= 0.75:
                worst = "yellow"
    return worst
