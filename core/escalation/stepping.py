"""Stepping escalation chains (Grafana OnCall's pattern): each step locks its row,
checks it is still the current step, notifies its one target, audits what
happened (failures too), and schedules the next step only after the commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.escalation import chain as running
from core.escalation import notify, targets
from core.escalation.config import Chain, Step
from core.models import Escalation, EscalationStatus, OutboxDelivery, Ticket
from core.tickets.lifecycle import OPEN_STATES

log = logging.getLogger(__name__)

ACTOR = "system:escalation"


def step(ctx: Context, escalation_id: int, token: str) -> bool:
    """The ``escalation_step`` job: run the step this token names, if it is still current."""
    with ctx.db.transaction() as session:
        esc = session.get(Escalation, escalation_id, with_for_update=True, populate_existing=True)
        if esc is None or esc.status != EscalationStatus.ACTIVE or esc.token != token:
            log.debug("escalation %s: stale step message ignored", escalation_id)
            return False
        ticket = session.get(Ticket, esc.ticket_id)
        assert ticket is not None
        if ticket.status not in OPEN_STATES:
            running.end(
                ctx,
                session,
                esc,
                EscalationStatus.STOPPED,
                actor=ACTOR,
                action="escalation_stopped",
                why=f"the ticket is {ticket.status}",
            )
            return False
        queued = queue_step(ctx, session, ticket, esc)
        session.flush()
        finish_step(ctx, session, ticket, esc, queued)
        return True


@dataclass
class Queued:
    """One step's pings, written but not yet flushed."""

    step: Step
    rows: list[OutboxDelivery]
    problems: list[str]


def queue_step(ctx: Context, session: Session, ticket: Ticket, esc: Escalation) -> Queued:
    """Write the pings of the chain's current step (the outbox rows get ids at the next flush)."""
    current = Chain.of(esc).steps[esc.step_index]
    note = notify.Note(
        kind=running.KIND,
        subject=f"[{ticket.number}] escalated: {ticket.subject}"[:300],
        text=(
            f"{ticket.number} ({ticket.priority}) needs someone now: {esc.reason}.\n"
            f"Subject: {ticket.subject}\n"
        ),
        urgent=True,
        key=f"esc:{esc.id}:{esc.pings}",
    )
    rows, problems = targets.notify_target(ctx, session, ticket, current, note, esc.id)
    return Queued(current, rows, problems)


def finish_step(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    esc: Escalation,
    queued: Queued,
    *,
    started: dict[str, Any] | None = None,
) -> None:
    """Audit the step (failures too) and move the chain on to its next step."""
    chain = Chain.of(esc)
    current, problems = queued.step, queued.problems
    sent = [row.id for row in queued.rows]
    now = ctx.now()
    data = {
        **(started or {}),
        "escalation": esc.id,
        "step": esc.step_index + 1,
        "round": esc.rounds + 1,
        "notify": current.notify,
        "channels": list(current.channels),
        "deliveries": sent,
    }
    if sent:
        audit.record(
            session,
            actor=ACTOR,
            action="escalation_step",
            ticket_id=ticket.id,
            data={**data, "problems": problems} if problems else data,
            now=now,
        )
    else:
        audit.record(
            session,
            actor=ACTOR,
            action="escalation_step_failed",
            ticket_id=ticket.id,
            data={**data, "problems": problems or ["nobody to notify"]},
            now=now,
        )
    esc.pings += 1
    nxt = esc.step_index + 1
    if nxt >= len(chain.steps):
        if not esc.repeat:
            running.end(
                ctx,
                session,
                esc,
                EscalationStatus.FINISHED,
                actor=ACTOR,
                action="escalation_finished",
            )
            return
        esc.rounds += 1
        nxt = 0
        wait = float(chain.repeat_every_minutes) + float(chain.steps[0].wait_minutes)
    else:
        wait = float(chain.steps[nxt].wait_minutes)
    esc.step_index = nxt
    esc.token = running.new_token()
    esc.next_step_at = now + timedelta(minutes=wait)
    running.schedule(ctx, session, esc)
