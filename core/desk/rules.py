"""Per ticket: since when it is unassigned or on hold, and when the next desk rule
is due.

``refresh`` runs in every change (``core.tickets.change.apply``), after the status
move: it opens or ends the ticket's unassigned and on-hold spells in
``Ticket.rule_state`` and sets ``Ticket.rule_due_at``, the indexed time the clock
claims by. A rule fires once per spell: its key (``unassigned:SINCE``,
``hold:SINCE``) goes to ``fired``, and a spell that ends takes its key, and the
follow-up it opened, with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Context
from core.desk import followups
from core.desk.config import config
from core.models import Ticket, TicketStatus
from core.sla import ticket as sla
from core.tickets.lifecycle import OPEN_STATES

UNASSIGNED, HOLD = "unassigned", "hold"
KINDS = (UNASSIGNED, HOLD)


def key(state: dict[str, Any], kind: str) -> str | None:
    """The key of the ticket's current spell of ``kind`` (None: not in one)."""
    since = state.get(kind)
    return f"{kind}:{since}" if since else None


def spells(ticket: Ticket, now: datetime) -> dict[str, str]:
    """Which spells the ticket is in now, with when each began (ISO). A ticket seen
    for the first time (``rule_state`` empty) began its spell when it was opened or
    last changed."""
    first = ticket.rule_state is None
    state = ticket.rule_state or {}
    found: dict[str, str] = {}
    if ticket.status in OPEN_STATES:
        if ticket.assignee_id is None and ticket.status != TicketStatus.ON_HOLD:
            found[UNASSIGNED] = (
                state.get(UNASSIGNED) or (ticket.created_at if first else now).isoformat()
            )
        if ticket.status == TicketStatus.ON_HOLD:
            found[HOLD] = state.get(HOLD) or (ticket.updated_at if first else now).isoformat()
    return found


def refresh(ctx: Context, session: Session, ticket: Ticket) -> None:
    """Start and end the ticket's spells, close what an ended spell opened, and set
    when the next rule is due."""
    now = ctx.now()
    state = dict(ticket.rule_state or {})
    current = spells(ticket, now)
    fired = list(state.get("fired") or [])
    for kind in KINDS:
        was = key(state, kind)
        if was is not None and current.get(kind) != state.get(kind) and was in fired:
            fired.remove(was)
            why = "assigned" if kind == UNASSIGNED and ticket.assignee_id else None
            followups.close(ctx, session, ticket, was, why or _ended(ticket, kind))
    ticket.rule_state = {**current, "fired": fired}
    ticket.rule_due_at = next_due(ctx, session, ticket)


def _ended(ticket: Ticket, kind: str) -> str:
    if ticket.status not in OPEN_STATES:
        return f"the ticket is {ticket.status.replace('_', ' ')}"
    if kind == HOLD:
        return "the hold ended"
    return "the ticket was put on hold" if ticket.status == TicketStatus.ON_HOLD else "assigned"


def due(ctx: Context, session: Session, ticket: Ticket) -> dict[str, datetime]:
    """When each rule not yet fired in the ticket's current spells is due."""
    state = ticket.rule_state or {}
    fired = set(state.get("fired") or [])
    wanted = [k for k in KINDS if state.get(k) and key(state, k) not in fired]
    if not wanted:
        return {}
    limits = config(ctx.policy).limits(
        ticket.priority, sla.queue_slug(ctx, session, ticket.queue_id)
    )
    policy = sla.policy_for(ctx, ticket, session)
    found: dict[str, datetime] = {}
    for kind in wanted:
        since = datetime.fromisoformat(state[kind])
        if kind == HOLD and ticket.hold_until is not None:
            found[kind] = ticket.hold_until  # the review date given with the hold
            continue
        minutes = limits.unassigned_minutes if kind == UNASSIGNED else limits.hold_minutes
        if minutes is None:
            continue
        amount = timedelta(minutes=minutes)
        found[kind] = policy.calendar.add(since, amount) if policy else since + amount
    return found


def next_due(ctx: Context, session: Session, ticket: Ticket) -> datetime | None:
    return min(due(ctx, session, ticket).values(), default=None)


def backfill(ctx: Context, session: Session) -> int:
    """Give open tickets stored before the rules existed their spells and due times."""
    count = 0
    for ticket in session.execute(
        select(Ticket).where(Ticket.rule_state.is_(None), Ticket.status.in_(list(OPEN_STATES)))
    ).scalars():
        refresh(ctx, session, ticket)
        count += 1
    return count
