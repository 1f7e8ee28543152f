"""Keep a ticket's facts row (``TicketFacts``) true after each change.

Called once per change by ``core.tickets.change.apply``, in its transaction, after
the SLA refresh: the row copies what the ticket says now (priority, queue, category,
assignee, first response, resolution) and adds what only the change knows (a reopen,
an escalation). An SLA clock that stopped in time is ``met``; one that ran past its
due time is ``breached``, and stays so.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.events import Change
from core.models import Ticket, TicketFacts, TicketStatus
from core.sla import ticket as sla
from core.sla.clock import Clock

DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
MET, BREACHED = "met", "breached"


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
    row.response_sla = _outcome(row.response_sla, clocks.response, now)
    row.resolution_sla = _outcome(row.resolution_sla, clocks.resolution, now)
    return row


def _outcome(before: str | None, clock: Clock | None, now: datetime) -> str | None:
    if before == BREACHED or clock is None:
        return before
    if clock.breached(now):
        return BREACHED
    return MET if clock.stopped_at is not None else None


def record_answer(session: Session, ticket: Ticket, fixed: bool | None, rating: int | None) -> None:
    """The client's latest satisfaction answer on the ticket's facts row."""
    row = session.get(TicketFacts, ticket.id)
    if row is not None:
        row.fixed = fixed
        row.rating = rating
