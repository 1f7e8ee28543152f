"""What a ticket is tied to: the asset, site, work order and location it concerns,
and the ticket it was merged into."""

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
from core.tickets.thread import Entry

LINK_FIELDS = {
    "asset": "asset_ref",
    "site": "site_ref",
    "work_order": "work_order_ref",
    "location": "location",
}


def link(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
    **refs: str | None,
) -> Change:
    """Set the references given (``asset=``, ``site=``, ``work_order=``, ``location=``);
    an empty one clears it."""
    unknown = set(refs) - set(LINK_FIELDS)
    if unknown:
        raise ActionRefused(
            "link.fields", f"unknown link field(s): {', '.join(sorted(unknown))}", kind="field"
        )
    given = {k: v for k, v in refs.items() if v is not None}
    if not given:
        raise ActionRefused(
            "field.link", "give at least one of asset, site, work_order, location", kind="field"
        )

    def edit() -> None:
        for name, value in given.items():
            setattr(ticket, LINK_FIELDS[name], value.strip() or None)

    return apply(
        ctx,
        session,
        who,
        ticket,
        "link",
        data=given,
        override_reason=override_reason,
        edit=edit,
    )


def merge(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    into: Ticket,
    override_reason: str | None = None,
) -> Change:
    """Merge ``ticket`` into ``into``: participants move over, the source closes, and
    the target's thread and audit say where it came from."""
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
    )
    message = thread.add(
        ctx,
        session,
        into,
        Entry(
            kind="system",
            direction="out",
            channel="internal",
            text=f"{ticket.number} was merged into this ticket by {who.name or who.label}.",
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
