"""Keep a ticket's facts row (``TicketFacts``) true after each change.

Called once per change by ``core.tickets.change.apply``, in its transaction, after
the SLA refresh: the row copies what the ticket says now (priority, queue, category,
assignee, first response, resolution, the state of its SLA clocks) and adds what
only the change knows (a reopen, an escalation).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.events import Change
from core.models import Ticket, TicketFacts, TicketStatus
from core.sla import ticket as sla
from core.sla.clock import Clock

DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
MET, BREACHED = "met", "breached"


def preload(session: Session, ticket_ids: list[int]) -> None:
    """Load the facts rows of several tickets in one statement (a batch of changes,
    such as a burst of breaches), so ``observe`` finds each without a query."""
    if ticket_ids:
        session.execute(select(TicketFacts).where(TicketFacts.ticket_id.in_(ticket_ids))).all()


def observe(session: Session, change: Change) -> TicketFacts:
    """Fold ``change`` into its ticket's facts row (created with the ticket)."""
    ticket = change.ticket
    row = session.get(TicketFacts, ticket.id) if change.before is not None else None
    if row is None:
        row = TicketFacts(
            ticket_id=ticket.id, opened_at=ticket.created_at, reopens=0, escalations=0
        )
        session.add(row)
    row.priority = ticket.priority
    row.queue_id = ticket.queue_id
    row.category_id = ticket.category_id
    row.assignee_id = ticket.assignee_id
    row.first_response_at = sla.responded_at(ticket)
    row.resolved_at = ticket.resolved_at if ticket.status in DONE else None
    if change.before in DONE and change.after not in DONE:
        row.reopens = (row.reopens or 0) + 1
    if change.action == "escalate":
        row.escalations = (row.escalations or 0) + 1
    now = ticket.updated_at
    clocks = sla.load_clocks(ticket)
    row.response_sla, row.response_due_at = state(clocks.response, now)
    row.resolution_sla, row.resolution_due_at = state(clocks.resolution, now)
    return row


def state(clock: Clock | None, now: datetime) -> tuple[str | None, datetime | None]:
    """(``met`` / ``breached`` / None, the deadline of a running clock), as
    ``core.sla.report`` decides a clock: breached once its open time passed the target,
    met when it stopped in time, else still to be decided."""
    if clock is None:
        return None, None
    if clock.breached(now):
        return BREACHED, None
    if clock.stopped_at is not None:
        return MET, None
    return None, clock.due_at if clock.paused_at is None else None


def record_answer(session: Session, ticket: Ticket, fixed: bool | None, rating: int | None) -> None:
    """The client's latest satisfaction answer on the ticket's facts row."""
    row = session.get(TicketFacts, ticket.id)
    if row is not None:
        row.fixed = fixed
        row.rating = rating
