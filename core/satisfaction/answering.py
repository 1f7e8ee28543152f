"""The client's answer: one per resolution, changed as often as they like.

The first answer is audited as ``satisfaction``, each change as
``satisfaction_changed`` with what the answer was before. "Not fixed" reopens the
ticket when it is still resolved or closed on that resolution; a rating at or below
the policy's threshold notifies the configured agents (once per answer that goes
that low) and opens a follow-up for the ticket's queue lead (once per resolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.desk import followups
from core.desk.leads import leads_for
from core.errors import ActionRefused
from core.escalation import notify
from core.kpis import facts
from core.models import Agent, ResolutionRecord, SatisfactionAnswer, Ticket, TicketStatus
from core.principals import client_principal
from core.satisfaction import BUTTON_PREFIX
from core.satisfaction.config import config
from core.tickets import workflow
from core.tokens import parse_satisfaction_token

ACTOR = "system:satisfaction"
MAX_COMMENT = 2000
CHOICES = {"fixed": (True, None), "notfixed": (False, None)} | {
    str(n): (None, n) for n in range(1, 6)
}


@dataclass(frozen=True)
class Question:
    """What a satisfaction token asks about: the resolution and its ticket."""

    resolution: ResolutionRecord
    ticket: Ticket
    answer: SatisfactionAnswer | None
    open: bool  # still answerable (within the policy's answer_days)


def find(ctx: Context, session: Session, token: str, *, lock: bool = False) -> Question | None:
    """The question a token names, or None for a forged token or a resolution gone."""
    resolution_id = parse_satisfaction_token(ctx.secret, token)
    if resolution_id is None:
        return None
    resolution = session.get(ResolutionRecord, resolution_id)
    if resolution is None:
        return None
    ticket = session.get(Ticket, resolution.ticket_id, with_for_update=lock)
    if ticket is None:
        return None
    stmt = select(SatisfactionAnswer).where(SatisfactionAnswer.resolution_id == resolution.id)
    answer = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    days = config(ctx.policy).answer_days
    return Question(
        resolution, ticket, answer, ctx.now() < resolution.created_at + timedelta(days=days)
    )


def answer(
    ctx: Context,
    session: Session,
    token: str,
    *,
    fixed: bool | None = None,
    rating: int | None = None,
    comment: str | None = None,
    channel: str = "web",
) -> SatisfactionAnswer:
    """Record (or change) the answer to the question ``token`` names.

    Raises:
      ActionRefused: the token names nothing (``satisfaction.unknown``), its time is
        over (``satisfaction.expired``), or the answer is not one (``satisfaction.answer``).
    """
    question = find(ctx, session, token, lock=True)
    if question is None:
        raise ActionRefused(
            "satisfaction.unknown", "this link does not name a resolved ticket", kind="field"
        )
    if not question.open:
        raise ActionRefused(
            "satisfaction.expired",
            f"answers to this question closed {config(ctx.policy).answer_days} days after the resolution",
            kind="state",
        )
    if rating is not None and not 1 <= rating <= 5:
        raise ActionRefused("satisfaction.answer", "a rating is 1 to 5", kind="field")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ActionRefused(
            "satisfaction.answer", f"a comment is at most {MAX_COMMENT} characters", kind="field"
        )
    if fixed is None and rating is None and not (comment or "").strip():
        raise ActionRefused(
            "satisfaction.answer", "say whether it is fixed, or give a rating", kind="field"
        )
    ticket, resolution, row = question.ticket, question.resolution, question.answer
    now = ctx.now()
    who = client_principal(ticket.contact_id)
    before = _state(row)
    if row is None:
        row = SatisfactionAnswer(
            ticket_id=ticket.id, resolution_id=resolution.id, comment="", changes=0, created_at=now
        )
        session.add(row)
    if fixed is not None:
        row.fixed = fixed
    if rating is not None:
        row.rating = rating
    if comment is not None and comment.strip():
        row.comment = comment.strip()
    row.channel = channel
    after = _state(row)
    if before == after:
        return row
    row.updated_at = now
    data: dict[str, Any] = {"resolution": resolution.id, "channel": channel, **(after or {})}
    if before is None:
        action = "satisfaction"
    else:
        action = "satisfaction_changed"
        row.changes = (row.changes or 0) + 1
        data["before"] = before
    audit.record(session, actor=who.label, action=action, ticket_id=ticket.id, data=data, now=now)
    latest = _is_latest(session, resolution)
    if latest:
        facts.record_answer(session, ticket, row.fixed, row.rating)
    if (
        row.fixed is False
        and (before or {}).get("fixed") is not False
        and latest
        and ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    ):
        workflow.reopen(
            ctx, session, who, ticket, reason="the client answered that it is not fixed"
        )
    low = config(ctx.policy).notify_at_or_below
    if row.rating is not None and row.rating <= low:
        was = (before or {}).get("rating")
        if was is None or was > low:
            _notify_low(ctx, session, ticket, row)
    return row


def press(ctx: Context, session: Session, pressed: str, channel: str) -> SatisfactionAnswer | None:
    """A chat button's id (``sat:TOKEN:CHOICE``) as an answer; None when the id is
    not a satisfaction button (the caller handles it)."""
    prefix, _, rest = pressed.partition(":")
    token, _, choice = rest.rpartition(":")
    if prefix != BUTTON_PREFIX or choice not in CHOICES:
        return None
    fixed, rating = CHOICES[choice]
    return answer(ctx, session, token, fixed=fixed, rating=rating, channel=channel)


def _state(row: SatisfactionAnswer | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"fixed": row.fixed, "rating": row.rating, "comment": row.comment or ""}


def _is_latest(session: Session, resolution: ResolutionRecord) -> bool:
    newest = session.execute(
        select(func.max(ResolutionRecord.id)).where(
            ResolutionRecord.ticket_id == resolution.ticket_id
        )
    ).scalar_one()
    return bool(newest == resolution.id)


def _notify_low(ctx: Context, session: Session, ticket: Ticket, row: SatisfactionAnswer) -> None:
    cfg = config(ctx.policy)
    comment = f"Their comment: {row.comment}\n" if row.comment else ""
    note = notify.Note(
        kind="satisfaction_low",
        subject=f"[{ticket.number}] rated {row.rating} of 5: {ticket.subject}",
        text=(
            f"The client rated the resolution of {ticket.number} {row.rating} of 5"
            f"{' and said it is not fixed' if row.fixed is False else ''}.\n"
            f"Subject: {ticket.subject}\n{comment}"
        ),
        urgent=False,
        key=f"satisfaction-low:{row.resolution_id}:{row.changes or 0}",
    )
    agents = [
        agent
        for agent in session.execute(
            select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
        ).scalars()
        if set(agent.roles) & cfg.roles or agent.email.lower() in cfg.emails
    ]
    # A follow-up for the queue's lead, open until someone marks it done.
    leads = leads_for(ctx, session, ticket)
    lead = leads[0] if leads else None
    followups.open_one(
        ctx,
        session,
        ticket,
        kind="satisfaction",
        key=f"satisfaction:{row.resolution_id}",
        agent=lead,
        reason=f"the client rated the resolution {row.rating} of 5: follow it up with them",
        actor=ACTOR,
    )
    if lead is not None and lead not in agents:
        agents.append(lead)
    sent = []
    for agent in agents:
        delivery = notify.to_agent(ctx, session, agent, ticket, note)
        if delivery is not None:
            sent.append(delivery.id)
    audit.record(
        session,
        actor=ACTOR,
        action="satisfaction_low_notified" if sent else "satisfaction_low_unsent",
        ticket_id=ticket.id,
        data={"rating": row.rating, "deliveries": sent},
        now=ctx.now(),
    )
