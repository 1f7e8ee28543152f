"""Follow-ups: something one person must look at on a ticket, opened by a desk rule
(an unassigned ticket past its limit, a hold past its limit, a low satisfaction
score). Open until done: by hand (the API, ``switchboard follow-ups done``), or by
the desk when the condition ends (the ticket assigned, the hold over, the ticket
resolved). Each opening and closing is audited on the ticket's chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.errors import ActionRefused
from core.models import Agent, FollowUp, FollowUpStatus, Ticket, format_number
from core.principals import Principal

ACTOR = "system:desk"


def open_one(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    key: str,
    agent: Agent | None,
    reason: str,
    actor: str = ACTOR,
) -> FollowUp | None:
    """Open the follow-up ``key`` names on the ticket; None when it was opened before
    (a condition opens one follow-up, however often it is seen)."""
    existing = session.execute(
        select(FollowUp.id).where(FollowUp.ticket_id == ticket.id, FollowUp.key == key)
    ).scalar_one_or_none()
    if existing is not None:
        return None
    row = FollowUp(
        ticket_id=ticket.id,
        kind=kind,
        key=key[:120],
        agent_id=agent.id if agent else None,
        reason=reason,
        status=FollowUpStatus.OPEN,
        created_at=ctx.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="follow_up_opened",
        ticket_id=ticket.id,
        data={
            "follow_up": row.id,
            "kind": kind,
            "for": agent.email if agent else None,
            "reason": reason,
        },
        now=ctx.now(),
    )
    return row


def close(ctx: Context, session: Session, ticket: Ticket, key: str, why: str) -> int:
    """Mark the open follow-up ``key`` names done because its condition ended."""
    ids = list(
        session.execute(
            select(FollowUp.id).where(
                FollowUp.ticket_id == ticket.id,
                FollowUp.key == key,
                FollowUp.status == FollowUpStatus.OPEN,
            )
        ).scalars()
    )
    if not ids:
        return 0
    now = ctx.now()
    session.execute(
        update(FollowUp)
        .where(FollowUp.id.in_(ids))
        .values(status=FollowUpStatus.DONE, done_at=now, done_by=ACTOR, note=why)
        .execution_options(synchronize_session=False)
    )
    for follow_up_id in ids:
        audit.record(
            session,
            actor=ACTOR,
            action="follow_up_done",
            ticket_id=ticket.id,
            data={"follow_up": follow_up_id, "note": why},
            now=now,
        )
    return len(ids)


def done(
    ctx: Context, session: Session, who: Principal, follow_up_id: int, note: str = ""
) -> FollowUp:
    """Mark a follow-up done by hand (any staff member: a colleague may take it over).

    Raises:
      ActionRefused: no such follow-up (``follow_up.unknown``), or done already
        (``follow_up.done``).
    """
    if not who.is_staff:
        raise ActionRefused("lifecycle.role", "only staff can mark a follow-up done", kind="role")
    row = session.get(FollowUp, follow_up_id, with_for_update=True)
    if row is None:
        raise ActionRefused(
            "follow_up.unknown",
            f"there is no follow-up {follow_up_id} (list them: GET /api/follow-ups)",
            kind="field",
        )
    if row.status == FollowUpStatus.DONE:
        raise ActionRefused(
            "follow_up.done",
            f"follow-up {follow_up_id} was done already ({row.done_by}, {row.note or 'no note'})",
            kind="state",
        )
    now = ctx.now()
    row.status, row.done_at, row.done_by = FollowUpStatus.DONE, now, who.label[:120]
    row.note = note.strip() or None
    audit.record(
        session,
        actor=who.label,
        action="follow_up_done",
        ticket_id=row.ticket_id,
        data={"follow_up": row.id, "note": row.note},
        now=now,
    )
    return row


def listing(
    session: Session,
    *,
    status: str | None = FollowUpStatus.OPEN,
    agent_id: int | None = None,
    ticket_id: int | None = None,
    follow_up_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Follow-ups, newest first, as plain rows (one indexed statement)."""
    query = (
        select(FollowUp, Agent.email, Agent.name, Ticket.subject, Ticket.priority)
        .join(Ticket, Ticket.id == FollowUp.ticket_id)
        .outerjoin(Agent, Agent.id == FollowUp.agent_id)
        .order_by(FollowUp.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(FollowUp.status == status)
    if agent_id is not None:
        query = query.where(FollowUp.agent_id == agent_id)
    if ticket_id is not None:
        query = query.where(FollowUp.ticket_id == ticket_id)
    if follow_up_id is not None:
        query = query.where(FollowUp.id == follow_up_id)
    return [
        {
            "id": row.id,
            "ticket": format_number(row.ticket_id),
            "subject": subject,
            "priority": priority,
            "kind": row.kind,
            "reason": row.reason,
            "for": {"email": email, "name": name} if email else None,
            "status": row.status,
            "created_at": row.created_at.isoformat(),
            "done_at": row.done_at.isoformat() if row.done_at else None,
            "done_by": row.done_by,
            "note": row.note,
        }
        for row, email, name, subject, priority in session.execute(query).all()
    ]
