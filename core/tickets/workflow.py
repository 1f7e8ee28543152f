"""Working a ticket through its states: acknowledge, assign, start, hold, resume,
resolve, close, reopen; and escalate (a flag beside the state, with its chain).
Merging one ticket into another is ``core.tickets.merging``.

Each is one call of the change path (``core.tickets.change.apply``); the lifecycle
table says who may, from where, and what each needs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.context import Context
from core.errors import ActionRefused
from core.escalation import starting as escalation
from core.events import Change
from core.kpis import facts
from core.models import Agent, ResolutionCode, ResolutionRecord, Ticket, TicketStatus
from core.principals import Principal
from core.satisfaction import asking
from core.tickets import client
from core.tickets.change import apply
from core.tickets.notices import Notice


def acknowledge(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    def edit() -> None:
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = ctx.now()

    return apply(
        ctx, session, who, ticket, "acknowledge", override_reason=override_reason, edit=edit
    )


def assign(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    assignee: Agent,
    override_reason: str | None = None,
) -> Change:
    if not assignee.active:
        raise ActionRefused(
            "assign.inactive", f"{assignee.name} is not an active agent", kind="field"
        )

    def edit() -> None:
        ticket.assignee_id = assignee.id
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = ctx.now()

    return apply(
        ctx,
        session,
        who,
        ticket,
        "assign",
        fields={"assignee": assignee.id},
        data={"assignee": assignee.id, "assignee_name": assignee.name},
        override_reason=override_reason,
        edit=edit,
        notice=Notice(
            "assigned",
            serial=client.notice_serial(session, ticket, "assigned"),
            fields={"assignee": client.first_name(assignee.name)},
        ),
    )


def start(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    return apply(ctx, session, who, ticket, "start", override_reason=override_reason)


def hold(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str,
    parts_ref: str | None = None,
    hold_note: str | None = None,
    until: datetime | None = None,
    override_reason: str | None = None,
) -> Change:
    """Pause the ticket (and its SLA clocks) for ``reason``; ``until`` is when it will
    be looked at again, told to the client with the reason (it must lie ahead)."""
    if until is not None and until <= ctx.now():
        raise ActionRefused(
            "hold.until",
            "the time to look at the ticket again must be in the future",
            kind="field",
        )

    def edit() -> None:
        ticket.hold_reason = reason
        ticket.hold_parts_ref = parts_ref if reason == "pending_parts" else None
        ticket.hold_note = hold_note
        ticket.hold_until = until

    notice = Notice(
        "on_hold",
        serial=client.notice_serial(session, ticket, "on_hold"),
        fields={
            "why": client.hold_words(reason, hold_note),
            "review": client.review_words(reason, until),
        },
    )

    return apply(
        ctx,
        session,
        who,
        ticket,
        "hold",
        fields={"hold_reason": reason, "parts_ref": parts_ref, "hold_note": hold_note},
        data={
            "reason": reason,
            "parts_ref": parts_ref,
            "note": hold_note,
            "until": until.isoformat() if until else None,
        },
        override_reason=override_reason,
        edit=edit,
        notice=notice,
    )


def resume(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    return apply(
        ctx,
        session,
        who,
        ticket,
        "resume",
        override_reason=override_reason,
        edit=lambda: _end_hold(ticket),
    )


def _end_hold(ticket: Ticket) -> None:
    """Forget why and until when the ticket was on hold."""
    ticket.hold_reason = ticket.hold_parts_ref = ticket.hold_note = None
    ticket.hold_until = None


def resolve(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    code: str,
    steps: str,
    override_reason: str | None = None,
    notify_client: bool = True,
    action: str = "resolve",
) -> Change:
    """Record the fix (an immutable resolution record) and tell the client. ``action``
    is ``resolve`` (staff) or ``clear`` (the monitoring system saw the fault clear:
    the system only, from any open state)."""

    written: list[ResolutionRecord] = []

    def edit() -> None:
        written.append(_write_resolution(ctx, session, who, ticket, code, steps))
        ticket.resolved_at = ctx.now()
        _end_hold(ticket)

    # One notice per resolution: a ticket resolved again, after a reopen, tells again.
    serial = _resolutions(session, ticket) + 1
    change = apply(
        ctx,
        session,
        who,
        ticket,
        action,
        fields={"resolution_code": code, "resolution_steps": steps},
        data={"code": code},
        override_reason=override_reason,
        edit=edit,
        notice=Notice("resolved", serial=serial, fields={"steps": steps.strip()})
        if notify_client
        else None,
    )
    if notify_client:  # and ask whether it is fixed (the record's id names the question)
        session.flush()
        asking.ask(ctx, session, ticket, written[0], serial)
    return change


def close(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    code: str | None = None,
    steps: str | None = None,
    override_reason: str | None = None,
) -> Change:
    """Close a resolved ticket. Closing one that was never resolved (a lead's
    override) still needs a resolution code and steps."""
    needs_resolution = ticket.status != TicketStatus.RESOLVED

    def edit() -> None:
        if needs_resolution:
            if not code or not steps or not steps.strip():
                raise ActionRefused(
                    "close.needs_resolution",
                    "closing an unresolved ticket needs a resolution code and steps",
                    kind="field",
                )
            _write_resolution(ctx, session, who, ticket, code, steps)
            ticket.resolved_at = ticket.resolved_at or ctx.now()
        ticket.closed_at = ctx.now()

    return apply(
        ctx,
        session,
        who,
        ticket,
        "close",
        data={"code": code} if code else {},
        override_reason=override_reason,
        edit=edit,
    )


def reopen(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str = "",
    override_reason: str | None = None,
) -> Change:
    def edit() -> None:
        ticket.resolved_at = None
        ticket.closed_at = None

    return apply(
        ctx,
        session,
        who,
        ticket,
        "reopen",
        data={"reason": reason},
        override_reason=override_reason,
        edit=edit,
        notice=Notice("reopened", serial=client.notice_serial(session, ticket, "reopened")),
    )


def _write_resolution(
    ctx: Context, session: Session, who: Principal, ticket: Ticket, code: str, steps: str
) -> ResolutionRecord:
    code_row = session.execute(
        select(ResolutionCode).where(ResolutionCode.code == code, ResolutionCode.active.is_(True))
    ).scalar_one_or_none()
    if code_row is None:
        raise ActionRefused("resolve.code", f"unknown resolution code '{code}'", kind="field")
    record = ResolutionRecord(
        ticket_id=ticket.id,
        code=code,
        steps=steps.strip(),
        agent_id=who.agent_id,
        asset_id=ticket.asset_id,  # from now on part of the machine's history
        created_at=ctx.now(),
    )
    session.add(record)
    return record


def _resolutions(session: Session, ticket: Ticket) -> int:
    return session.execute(
        select(func.count())
        .select_from(ResolutionRecord)
        .where(ResolutionRecord.ticket_id == ticket.id)
    ).scalar_one()


def escalate(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str,
    override_reason: str | None = None,
) -> Change:
    """Mark the ticket escalated and start its escalation chain (unless one is running)."""
    return escalate_many(ctx, session, who, [(ticket, reason)], override_reason=override_reason)[0]


def escalate_many(
    ctx: Context,
    session: Session,
    who: Principal,
    items: list[tuple[Ticket, str]],
    *,
    override_reason: str | None = None,
) -> list[Change]:
    """``escalate`` for several tickets (a burst of SLA breaches): the chains start
    together, so each of their writes is one flush for the whole batch."""
    changes = []
    facts.preload(session, [ticket.id for ticket, _ in items])
    for ticket, reason in items:

        def edit(ticket: Ticket = ticket) -> None:
            ticket.escalated = True

        changes.append(
            apply(
                ctx,
                session,
                who,
                ticket,
                "escalate",
                data={"reason": reason},
                override_reason=override_reason,
                edit=edit,
            )
        )
    escalation.start_many(ctx, session, items, actor=who.label)
    return changes
