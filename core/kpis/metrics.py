"""What ``/metrics`` exposes, counted from the database at scrape time, so every
process answers the same, whichever received or delivered what.

Each family is one grouped count: the intake by channel and outcome (``open``,
``append``, ``park``, ``drop``, ``link``, ``event``; ``pending`` while undecided),
the deliveries by channel and status, the open tickets by SLA state and by queue and
status, and the escalation chains by status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from core.models import Escalation, InboundRecord, OutboxDelivery, SupportQueue, Ticket
from core.tickets.lifecycle import OPEN_STATES

Counts = list[tuple[tuple[str, ...], int]]


@dataclass
class Snapshot:
    intake: Counts = field(default_factory=list)  # (channel, outcome)
    deliveries: Counts = field(default_factory=list)  # (channel, status)
    sla: Counts = field(default_factory=list)  # (state,): ok, at_risk, breached
    queues: Counts = field(default_factory=list)  # (queue, status)
    escalations: Counts = field(default_factory=list)  # (status,)


def snapshot(session: Session, now: datetime) -> Snapshot:
    """Every figure, in five statements, each over an index where one helps."""
    out = Snapshot()
    out.intake = _grouped(
        session, InboundRecord.channel, func.coalesce(InboundRecord.outcome, "pending")
    )
    out.deliveries = _grouped(session, OutboxDelivery.channel, OutboxDelivery.status)
    open_ = Ticket.status.in_(sorted(OPEN_STATES))
    slug = func.coalesce(SupportQueue.slug, "-")
    depth = (
        select(Ticket.queue_id, Ticket.status, func.count().label("n"))
        .where(open_)
        .group_by(Ticket.queue_id, Ticket.status)
        .subquery()
    )
    out.queues = [
        ((str(q), str(s)), int(n))
        for q, s, n in session.execute(
            select(slug, depth.c.status, depth.c.n).outerjoin(
                SupportQueue, SupportQueue.id == depth.c.queue_id
            )
        ).all()
    ]
    # At risk or breached: only tickets whose attention time has come (an indexed
    # range); every other open ticket is ok.
    breached = or_(Ticket.response_due_at < now, Ticket.resolution_due_at < now)
    state = case((breached, "breached"), else_="at_risk")
    attention = dict(_grouped(session, state, where=and_(Ticket.sla_attention_at <= now, open_)))
    ok = sum(n for _, n in out.queues) - sum(attention.values())
    out.sla = [(("ok",), ok)] + sorted(attention.items())
    out.escalations = _grouped(session, Escalation.status)
    return out


def _grouped(session: Session, *keys: object, where: object = None) -> Counts:
    stmt = select(*keys, func.count()).group_by(*keys)  # type: ignore[call-overload]
    if where is not None:
        stmt = stmt.where(where)
    return [(tuple(str(k) for k in row[:-1]), int(row[-1])) for row in session.execute(stmt).all()]
