"""Read models: tickets, threads, parked items and deliveries as plain dicts.

The JSON API and the command line print the same shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import contacts
from core.context import Context
from core.escalation import chain as escalation
from core.models import (
    Agent,
    Attachment,
    AuditEvent,
    Category,
    Contact,
    Identity,
    Message,
    OutboxDelivery,
    Override,
    ResolutionRecord,
    SupportQueue,
    Ticket,
    TicketStatus,
    format_number,
)
from core.sla import ticket as sla


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_summary(ctx: Context, ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "escalated": ticket.escalated,
        "priority": ticket.priority,
        "priority_reason": ticket.priority_reason,
        "queue": ticket.queue.slug if ticket.queue else None,
        "category": ticket.category.slug if ticket.category else None,
        "client": {
            "contact": contacts.format_contact(ticket.contact_id),
            "name": ticket.contact.name if ticket.contact else "",
            "channel": ticket.reply_identity.kind if ticket.reply_identity else None,
            "address": ticket.reply_identity.address if ticket.reply_identity else None,
            "organization": ticket.organization.name if ticket.organization else None,
        },
        "assignee": ticket.assignee.name if ticket.assignee else None,
        "hold": {
            "reason": ticket.hold_reason,
            "parts_ref": ticket.hold_parts_ref,
            "note": ticket.hold_note,
        }
        if ticket.hold_reason
        else None,
        "links": {
            "asset": ticket.asset_ref,
            "site": ticket.site_ref,
            "work_order": ticket.work_order_ref,
            "location": ticket.location,
        },
        "merged_into": format_number(ticket.merged_into_id) if ticket.merged_into_id else None,
        "linked_from": format_number(ticket.linked_from_id) if ticket.linked_from_id else None,
        "sla": {
            "policy": ticket.sla_policy,
            "state": sla.state(ctx, ticket),
            "response_due_at": iso(ticket.response_due_at),
            "resolution_due_at": iso(ticket.resolution_due_at),
            "first_response_at": iso(ticket.first_response_at),
            "next_checkpoint_at": iso(ticket.next_checkpoint_at),
            **sla.detail(ctx, ticket),
        },
        "tracking_link": ctx.tracking_link(ticket.tracking_token),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def ticket_detail(ctx: Context, session: Session, ticket: Ticket) -> dict[str, Any]:
    data = ticket_summary(ctx, ticket)
    data["reply_via"] = reply_via(ctx, session, ticket)
    messages = (
        session.execute(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
        .scalars()
        .all()
    )
    agents = {a.id: a.name for a in session.execute(select(Agent)).scalars()}
    data["thread"] = [
        {
            "id": m.id,
            "kind": m.kind,
            "direction": m.direction,
            "channel": m.channel,
            "author": agents.get(m.author_agent_id or -1)
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
                for a in session.execute(
                    select(Attachment).where(Attachment.message_id == m.id)
                ).scalars()
            ],
            "created_at": iso(m.created_at),
        }
        for m in messages
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
        }
        for e in session.execute(
            select(AuditEvent)
            .where(AuditEvent.chain == f"ticket:{ticket.id}")
            .order_by(AuditEvent.seq)
        ).scalars()
    ]
    data["sla"]["escalation"] = escalation.describe(session, ticket.id)
    data["resolutions"] = [
        {
            "code": r.code,
            "steps": r.steps,
            "agent": agents.get(r.agent_id or -1),
            "at": iso(r.created_at),
        }
        for r in session.execute(
            select(ResolutionRecord)
            .where(ResolutionRecord.ticket_id == ticket.id)
            .order_by(ResolutionRecord.id)
        ).scalars()
    ]
    data["overrides"] = [
        {
            "action": o.action,
            "rule": o.rule,
            "reason": o.reason,
            "agent": agents.get(o.agent_id),
            "at": iso(o.created_at),
        }
        for o in session.execute(
            select(Override).where(Override.ticket_id == ticket.id).order_by(Override.id)
        ).scalars()
    ]
    return data


def reply_via(ctx: Context, session: Session, ticket: Ticket) -> dict[str, Any]:
    """Where the next public reply will go, and why (``contacts.reply_to``)."""
    chosen = contacts.reply_to(ctx, session, ticket)
    last = ticket.reply_identity
    if chosen is None:
        why = "the client has no address"
    elif last is not None and chosen.id != last.id:
        why = f"the client last wrote by {last.kind}, which is not run here"
    else:
        why = f"the client last wrote by {chosen.kind}"
    return {
        "channel": chosen.kind if chosen else None,
        "address": chosen.address if chosen else None,
        "why": why,
    }


def delivery_dict(d: OutboxDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "ticket": format_number(d.ticket_id) if d.ticket_id else None,
        "kind": d.kind,
        "channel": d.channel,
        "recipient": d.recipient,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "external_id": d.external_id,
        "created_at": iso(d.created_at),
        "sent_at": iso(d.sent_at),
    }


def list_tickets(
    ctx: Context,
    session: Session,
    *,
    status: str | None = None,
    priority: str | None = None,
    queue: str | None = None,
    assignee: str | None = None,
    query: str | None = None,
    include_closed: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    stmt = select(Ticket)
    if status:
        known = {s.value for s in TicketStatus}  # an unknown status matches nothing
        stmt = stmt.where(Ticket.status.in_([s for s in status.split(",") if s in known]))
    elif not include_closed:
        stmt = stmt.where(Ticket.status != TicketStatus.CLOSED)
    if priority:
        stmt = stmt.where(Ticket.priority.in_(priority.split(",")))
    if queue:
        stmt = stmt.join(SupportQueue, SupportQueue.id == Ticket.queue_id).where(
            SupportQueue.slug == queue
        )
    if assignee:
        stmt = stmt.join(Agent, Agent.id == Ticket.assignee_id).where(
            or_(Agent.email == assignee, Agent.name == assignee)
        )
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.join(Contact, Contact.id == Ticket.contact_id).where(
            or_(
                func.lower(Ticket.subject).like(like),
                func.lower(Contact.name).like(like),
                Ticket.contact_id.in_(
                    select(Identity.contact_id).where(func.lower(Identity.address).like(like))
                ),
            )
        )
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = (
        session.execute(stmt.order_by(Ticket.id.desc()).limit(limit).offset(offset)).scalars().all()
    )
    return {"total": total, "tickets": [ticket_summary(ctx, t) for t in rows]}


def reference_data(session: Session) -> dict[str, list[str]]:
    return {
        "queues": list(
            session.execute(select(SupportQueue.slug).order_by(SupportQueue.slug)).scalars()
        ),
        "categories": list(
            session.execute(select(Category.slug).order_by(Category.slug)).scalars()
        ),
    }
