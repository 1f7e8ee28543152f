"""Acknowledging an escalation: the chain stops in the caller's transaction, and
pings not yet sent are cancelled, so nothing leaves after it commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import outbox
from core.context import Context
from core.errors import ActionRefused
from core.escalation import chain as running
from core.events import Change
from core.models import Escalation, EscalationStatus, Ticket
from core.principals import Principal, system
from core.tickets.change import announce


def acknowledge(
    ctx: Context, session: Session, ticket: Ticket, *, by: str, who: Principal | None = None
) -> Escalation:
    """Stop the ticket's chain now: no step runs and no ping leaves after this commits.

    Usable from every channel (Slack button, Telegram command, email link) and the API;
    ``by`` is the audit label, ``who`` the principal when there is one. The observers
    hear of it (Slack updates every ping it posted, whichever way it was acknowledged).
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
    data = {"escalation": esc.id, "pings": esc.pings, "cancelled": cancelled}
    change = Change(
        "escalation_acknowledged", ticket, who or system(by), ticket.status, ticket.status, data
    )
    announce(ctx, session, change, actor=by)
    return esc
