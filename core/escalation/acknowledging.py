"""Acknowledging an escalation: the chain stops in the caller's transaction, and
pings not yet sent are cancelled, so nothing leaves after it commits. Whoever
acknowledges takes the ticket: a new ticket is acknowledged, and one nobody has is
assigned to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import outbox
from core.context import Context
from core.errors import ActionRefused
from core.escalation import chain as running
from core.events import Change
from core.models import Agent, Escalation, EscalationStatus, Ticket, TicketStatus
from core.principals import Principal, system
from core.tickets import workflow
from core.tickets.change import announce
from core.tickets.lifecycle import ACTIONS


def acknowledge(
    ctx: Context, session: Session, ticket: Ticket, *, by: str, who: Principal | None = None
) -> Escalation:
    """Stop the ticket's chain now: no step runs and no ping leaves after this commits.

    Usable from every channel (Slack button, Telegram command, email link) and the API;
    ``by`` is the audit label, ``who`` the principal when there is one. The observers
    hear of it (Slack updates every ping it posted, whichever way it was acknowledged).
    An agent who acknowledges takes the ticket (``take``), each step audited as the
    ticket action it is.
    Raises ``ActionRefused`` when the ticket has no chain running.
    """
    esc = running.active(session, ticket.id, lock=True)
    if esc is None:
        raise ActionRefused(
            "escalation.none",
            f"{ticket.number} has no escalation waiting for an acknowledgement",
            kind="state",
        )
    now = ctx.now()
    esc.status, esc.token, esc.next_step_at = EscalationStatus.ACKNOWLEDGED, None, None
    esc.acknowledged_at, esc.acknowledged_by = now, by[:120]
    cancelled = outbox.cancel_waiting(session, ticket.id, running.KIND, "escalation acknowledged")
    data: dict[str, Any] = {"escalation": esc.id, "pings": esc.pings, "cancelled": cancelled}
    if who is not None and who.agent_id is not None:
        data["took"] = take(ctx, session, ticket, who)
    change = Change(
        "escalation_acknowledged", ticket, who or system(by), ticket.status, ticket.status, data
    )
    announce(ctx, session, change, actor=by)
    return esc


def take(ctx: Context, session: Session, ticket: Ticket, who: Principal) -> list[str]:
    """The acknowledging agent takes the ticket: a new one is acknowledged, one nobody
    is assigned to is assigned to them. What the lifecycle does not allow (a ticket on
    hold is not assigned) is left as it is. Returns what was done."""
    agent = session.get(Agent, who.agent_id) if who.agent_id is not None else None
    if agent is None or not agent.active:
        return []
    done = []
    if ticket.status == TicketStatus.NEW:
        workflow.acknowledge(ctx, session, who, ticket)
        done.append("acknowledged")
    if ticket.assignee_id is None and ticket.status in ACTIONS["assign"].sources:
        workflow.assign(ctx, session, who, ticket, assignee=agent)
        done.append("assigned")
    return done
