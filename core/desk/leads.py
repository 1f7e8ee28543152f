"""Who leads a ticket's queue: the queue's ``lead`` (an active agent), else every
active agent with the role ``lead``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Context
from core.desk.config import config
from core.models import Agent, Ticket
from core.sla import ticket as sla


def leads_for(ctx: Context, session: Session, ticket: Ticket) -> list[Agent]:
    """The ticket's queue's lead, or (none named, or not an active agent) every
    active agent with the role ``lead``, in the order they were added."""
    slug = sla.queue_slug(ctx, session, ticket.queue_id)
    email = config(ctx.policy).leads.get(slug or "")
    if email:
        lead = session.execute(
            select(Agent).where(Agent.email == email, Agent.active.is_(True))
        ).scalar_one_or_none()
        if lead is not None:
            return [lead]
    return [
        a
        for a in session.execute(
            select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
        ).scalars()
        if "lead" in (a.roles or [])
    ]
