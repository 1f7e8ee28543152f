"""Merging a ticket into another: the same request raised twice becomes one.

One call of the change path (``core.tickets.change.apply``), like every action in
``core.tickets.workflow``; the lifecycle table says who may merge, and from where.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.errors import ActionRefused
from core.events import Change
from core.models import Participant, Ticket, TicketStatus
from core.principals import Principal
from core.tickets import thread
from core.tickets.change import apply
from core.tickets.notices import Notice
from core.tickets.thread import Entry


def merge(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    into: Ticket,
    override_reason: str | None = None,
) -> Change:
    """Merge ``ticket`` into ``into``: participants move over, the source closes, the
    target's thread and audit say where it came from (and show its messages:
    ``lists.merged_family``), and the source's client is told, on their channel,
    where their request now lives (the ``merged`` notice: number and tracking link)."""
    if into.id == ticket.id:
        raise ActionRefused("merge.self", "a ticket cannot be merged into itself", kind="field")
    if into.status == TicketStatus.CLOSED or into.merged_into_id:
        raise ActionRefused(
            "merge.target_closed",
            f"{into.number} is closed; merge into an open ticket",
            kind="state",
        )

    def edit() -> None:
        ticket.merged_into_id = into.id
        ticket.closed_at = ctx.now()
        for contact_id in session.execute(
            select(Participant.contact_id).where(Participant.ticket_id == ticket.id)
        ).scalars():
            thread.ensure_participant(session, into, contact_id)

    change = apply(
        ctx,
        session,
        who,
        ticket,
        "merge",
        fields={"into": into.id},
        data={"into": into.id},
        override_reason=override_reason,
        edit=edit,
        notice=Notice(
            "merged",
            fields={
                "into_number": into.number,
                "into_subject": into.subject,
                "into_link": ctx.tracking_link(into.tracking_token),
            },
        ),
    )
    message = thread.add(
        ctx,
        session,
        into,
        Entry(
            kind="system",
            direction="out",
            channel="internal",
            body_text=f"{ticket.number} was merged into this ticket by {who.name or who.label}.",
            author_agent_id=who.agent_id,
        ),
    )
    into.updated_at = ctx.now()
    audit.record(
        session,
        actor=who.label,
        action="merged_in",
        ticket_id=into.id,
        data={"from_ticket": ticket.id, "message": message.id},
        now=ctx.now(),
    )
    return change
