"""The ticket as an agent sees it: the one query path every face reads it through.

``assemble`` gives the ticket (status, client, SLA), the machine it is about with
its recent history (earlier tickets, what fixed them, open work orders, alerts
firing now), its site and work order, the alerts that raised it, and, in full, the
thread, deliveries, audit trail, resolutions, overrides and escalation. The JSON
API (``GET /api/tickets/{number}``), ``switchboard tickets show`` and the Slack
card all read it here; each part is one indexed query, so the cost does not grow
with the number of tickets or messages stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.assets import history
from core.contacts import format_contact
from core.context import Context
from core.desk import followups
from core.errors import NotFound
from core.escalation import chain as escalation
from core.models import (
    Agent,
    Alert,
    Attachment,
    AuditEvent,
    Contact,
    Identity,
    Message,
    OutboxDelivery,
    Override,
    ResolutionRecord,
    Ticket,
    format_number,
)
from core.tickets import lists, lookup
from core.tickets.views import LINKED as _LINKED
from core.tickets.views import delivery_dict, iso, reply_via, ticket_summary

HISTORY = 5  # earlier tickets and resolutions of the machine shown with a ticket


def assemble(
    ctx: Context, session: Session, number: str | int, *, full: bool = True, recent: int = HISTORY
) -> dict[str, Any]:
    """The context of ticket ``number`` (``T-000123`` or its id); ``full=False`` leaves
    out the thread (only its opening message), deliveries and audit trail (the Slack
    card). Raises ``NotFound``."""
    # The ticket and everything it points at, in one statement.
    ticket = (
        session.execute(
            select(Ticket).options(*_LINKED).where(Ticket.id == lookup.parse_number(number))
        )
        .unique()
        .scalar_one_or_none()
    )
    if ticket is None:
        raise NotFound(f"ticket {number} does not exist")
    data = ticket_summary(ctx, ticket)
    data["asset"] = history.machine(session, ticket.asset, limit=recent) if ticket.asset else None
    data["site"] = history.site_dict(ticket.site) if ticket.site else None
    data["work_order"] = history.work_order_dict(ticket.work_order) if ticket.work_order else None
    data["alerts"] = [
        history.alert_dict(a)
        for a in session.execute(
            select(Alert).where(Alert.ticket_id == ticket.id).order_by(Alert.id)
        ).scalars()
    ]
    data["sla"]["escalation"] = escalation.describe(session, ticket.id)
    data["follow_ups"] = followups.listing(session, status=None, ticket_id=ticket.id, limit=20)
    data["client"]["hints"] = [
        hint for given in ctx.client_hints for hint in given(session, ticket)
    ]
    if not full:
        data["opening"] = session.execute(
            select(Message.body_text)
            .where(Message.ticket_id == ticket.id, Message.kind == "public")
            .order_by(Message.id)
            .limit(1)
        ).scalar_one_or_none()
        return data
    data["reply_via"] = reply_via(ctx, session, ticket)
    # The thread with its files, in one statement: the tickets merged into this one
    # included, each of their messages saying which ticket it was written on.
    family = lists.merged_family(session, ticket.id)
    data["merged"] = [format_number(i) for i in family[1:]]
    messages: dict[int, Message] = {}
    files: dict[int, list[Attachment]] = {}
    for message, attachment in session.execute(
        select(Message, Attachment)
        .outerjoin(Attachment, Attachment.message_id == Message.id)
        .where(Message.ticket_id.in_(family))
        .order_by(Message.created_at, Message.id, Attachment.id)
    ):
        messages.setdefault(message.id, message)
        if attachment is not None:
            files.setdefault(message.id, []).append(attachment)
    resolutions = list(
        session.execute(
            select(ResolutionRecord)
            .where(ResolutionRecord.ticket_id == ticket.id)
            .order_by(ResolutionRecord.id)
        ).scalars()
    )
    overrides = list(
        session.execute(
            select(Override).where(Override.ticket_id == ticket.id).order_by(Override.id)
        ).scalars()
    )
    agent_ids = {m.author_agent_id for m in messages.values() if m.author_agent_id}
    agent_ids |= {r.agent_id for r in resolutions if r.agent_id}
    agent_ids |= {o.agent_id for o in overrides}
    agents: dict[int | None, str] = {}
    if agent_ids:
        agents.update(
            (agent_id, name)
            for agent_id, name in session.execute(
                select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids))
            )
        )
    clients = _client_names(session, messages.values())
    data["thread"] = [
        {
            "id": m.id,
            "ticket": format_number(m.ticket_id),
            "kind": m.kind,
            "direction": m.direction,
            "channel": m.channel,
            "author": agents.get(m.author_agent_id)
            if m.author_agent_id
            else clients.get(m.id, "system"),
            "author_ref": f"agent:{m.author_agent_id}"
            if m.author_agent_id
            else (f"contact:{m.author_contact_id}" if m.author_contact_id else "system"),
            "text": m.body_text,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "flagged": a.flagged,
                }
                for a in files.get(m.id, [])
            ],
            "created_at": iso(m.created_at),
        }
        for m in messages.values()
    ]
    data["deliveries"] = [
        delivery_dict(d)
        for d in session.execute(
            select(OutboxDelivery)
            .where(OutboxDelivery.ticket_id == ticket.id)
            .order_by(OutboxDelivery.id)
        ).scalars()
    ]
    data["audit"] = [
        {
            "seq": e.seq,
            "at": iso(e.created_at),
            "actor": e.actor,
            "action": e.action,
            "data": e.data,
            "hash": e.hash,
            # Emptied by an erasure of the client's personal data (core.privacy).
            "erased": f"{iso(e.erased_at)} by {e.erased_by}" if e.erased_at else None,
        }
        for e in session.execute(
            select(AuditEvent)
            .where(AuditEvent.chain == f"ticket:{ticket.id}")
            .order_by(AuditEvent.seq)
        ).scalars()
    ]
    data["resolutions"] = [
        {
            "code": r.code,
            "steps": r.steps,
            "agent": agents.get(r.agent_id),
            "at": iso(r.created_at),
        }
        for r in resolutions
    ]
    data["overrides"] = [
        {
            "action": o.action,
            "rule": o.rule,
            "reason": o.reason,
            "agent": agents.get(o.agent_id),
            "at": iso(o.created_at),
        }
        for o in overrides
    ]
    return data


def _client_names(session: Session, messages: Iterable[Message]) -> dict[int, str]:
    """By message id, how a person names the client who wrote it: the contact's name,
    else the address it was written from."""
    written = [m for m in messages if m.author_contact_id and not m.author_agent_id]
    if not written:
        return {}
    names = dict(
        session.execute(
            select(Contact.id, Contact.name).where(
                Contact.id.in_({m.author_contact_id for m in written})
            )
        ).all()
    )
    addresses = dict(
        session.execute(
            select(Identity.id, Identity.address).where(
                Identity.id.in_({m.author_identity_id for m in written if m.author_identity_id})
            )
        ).all()
    )
    return {
        m.id: names.get(m.author_contact_id or 0)
        or addresses.get(m.author_identity_id or 0)
        or f"client {format_contact(m.author_contact_id or 0)}"
        for m in written
    }
