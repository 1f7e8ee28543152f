"""Starting escalation chains: the ticket's chain is frozen onto a new escalation
row, and a first step that waits 0 minutes runs at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.db import transaction_cache
from core.escalation import chain as running
from core.escalation import stepping
from core.escalation.config import Chain, config
from core.models import Escalation, EscalationStatus, Ticket
from core.sla import ticket as sla


def start(
    ctx: Context, session: Session, ticket: Ticket, *, reason: str, actor: str = "system:sla"
) -> Escalation:
    """Freeze the ticket's chain onto it and run the first step (if it waits 0 minutes)."""
    return start_many(ctx, session, [(ticket, reason)], actor=actor)[0]


def start_many(
    ctx: Context, session: Session, items: list[tuple[Ticket, str]], *, actor: str = "system:sla"
) -> list[Escalation]:
    """``start`` for several tickets (a burst of breaches), phase by phase: all the
    chains are written in one flush, then all their first pings in another.

    A ticket whose chain is already running keeps it (and it is returned)."""
    checked = transaction_cache(session, running.CHECKED)
    cfg = config(ctx.policy)
    now = ctx.now()
    result: list[Escalation] = []
    new: list[tuple[Ticket, Escalation, Chain]] = []
    for ticket, reason in items:
        existing = (
            checked.pop(ticket.id)
            if ticket.id in checked
            else running.active(session, ticket.id, lock=True)
        )
        if existing is not None:
            result.append(existing)
            continue
        chain = cfg.chain_for(ticket.priority, sla.queue_slug(ctx, session, ticket.queue_id))
        esc = Escalation(
            ticket_id=ticket.id,
            chain=chain.name,
            steps=chain.frozen(),
            repeat=chain.repeat,
            reason=reason,
            status=EscalationStatus.ACTIVE,
            token=running.new_token(),
            step_index=0,
            rounds=0,
            pings=0,
            started_at=now,
            next_step_at=now + timedelta(minutes=chain.steps[0].wait_minutes),
        )
        session.add(esc)
        result.append(esc)
        new.append((ticket, esc, chain))
    if not new:
        return result
    session.flush()  # the chains' ids, for all of them at once
    first: list[tuple[Ticket, Escalation, dict[str, Any], stepping.Queued]] = []
    for ticket, esc, chain in new:
        started = {
            "escalation": esc.id,
            "chain": esc.chain,
            "reason": esc.reason,
            "steps": len(chain.steps),
        }
        if chain.steps[0].wait_minutes == 0:
            first.append((ticket, esc, started, stepping.queue_step(ctx, session, ticket, esc)))
        else:
            audit.record(
                session,
                actor=actor,
                action="escalation_started",
                ticket_id=ticket.id,
                data=started,
                now=now,
            )
            running.schedule(ctx, session, esc)
    if first:
        session.flush()  # the pings' ids, likewise
        for ticket, esc, started, queued in first:
            # one audit event says both: started, and the first step
            stepping.finish_step(ctx, session, ticket, esc, queued, started=started)
    return result
