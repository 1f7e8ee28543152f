"""Read models: tickets, listings and deliveries as plain dicts.

The JSON API and the command line print the same shapes; one ticket with all it
concerns is ``core.tickets.context.assemble``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from core import contacts, filters
from core.assets import links as asset_links
from core.assets.records import key_of
from core.context import Context
from core.models import (
    PRIORITIES,
    Agent,
    Asset,
    Category,
    OutboxDelivery,
    Site,
    SupportQueue,
    Ticket,
    TicketStatus,
    WorkOrder,
    format_number,
)
from core.sla import ticket as sla
from core.tickets import search

# What a ticket points at, loaded with it in one statement: the summary reads them all.
LINKED = (
    joinedload(Ticket.queue),
    joinedload(Ticket.category),
    joinedload(Ticket.contact),
    joinedload(Ticket.organization),
    joinedload(Ticket.assignee),
    joinedload(Ticket.reply_identity),
    joinedload(Ticket.asset).joinedload(Asset.site),
    joinedload(Ticket.site),
    joinedload(Ticket.work_order).joinedload(WorkOrder.asset),
    joinedload(Ticket.work_order).joinedload(WorkOrder.site),
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def fields_of(row: object, *names: str) -> dict[str, Any]:
    """``row``'s attributes ``names``, in that order; times (names ending ``_at``) as ISO text."""
    return {
        name: iso(value) if name.endswith("_at") else value
        for name in names
        for value in (getattr(row, name),)
    }


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
            "until": iso(ticket.hold_until),
        }
        if ticket.hold_reason
        else None,
        "links": asset_links.refs(ticket),
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


def reply_via(ctx: Context, session: Session, ticket: Ticket) -> dict[str, Any]:
    """Where the next public reply will go, and why (``contacts.reply_to``)."""
    chosen = contacts.reply_to(ctx, session, ticket)
    last = ticket.reply_identity
    if chosen is not None and chosen.kind in ctx.silent_channels:
        return {"channel": None, "address": None, "why": f"nothing is sent on {chosen.kind}"}
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
        "report": d.report,  # what the platform said later (a bounce, WhatsApp's statuses)
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
    asset: str | None = None,
    site: str | None = None,
    work_order: str | None = None,
    include_closed: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Tickets, newest first; ``asset``, ``site`` and ``work_order`` name records by
    reference (one nobody has names no ticket)."""
    stmt = select(Ticket)
    for name, what, ref, model, column in (
        ("asset", "an asset tag", asset, Asset, Ticket.asset_id),
        ("site", "a site code", site, Site, Ticket.site_id),
        ("work_order", "a work order number", work_order, WorkOrder, Ticket.work_order_id),
    ):
        if filters.given(name, ref, what):
            stmt = stmt.where(column.in_(select(model.id).where(model.key == key_of(ref or ""))))
    statuses = filters.choices("status", status, [s.value for s in TicketStatus])
    if statuses:
        stmt = stmt.where(Ticket.status.in_(statuses))
    elif not include_closed:
        stmt = stmt.where(Ticket.status != TicketStatus.CLOSED)
    priorities = filters.choices("priority", priority, PRIORITIES)
    if priorities:
        stmt = stmt.where(Ticket.priority.in_(priorities))
    queues = (
        filters.choices("queue", queue, reference_data(session)["queues"])
        if queue is not None
        else None
    )
    if queues:
        stmt = stmt.join(SupportQueue, SupportQueue.id == Ticket.queue_id).where(
            SupportQueue.slug.in_(queues)
        )
    if filters.given("assignee", assignee, "an agent's email or name"):
        stmt = stmt.join(Agent, Agent.id == Ticket.assignee_id).where(
            or_(Agent.email == assignee, Agent.name == assignee)
        )
    exact = True
    if query and query.strip():
        # Search (number, subject, client, messages): the page's ids, then its tickets.
        found = search.find(session, stmt, query, offset, limit)
        total, exact = found.total, found.exact
        stmt = select(Ticket).where(Ticket.id.in_(found.ids))
        offset = 0
    else:
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    page = stmt.order_by(Ticket.id.desc()).limit(limit).offset(offset).options(*LINKED)
    rows = session.execute(page).unique().scalars().all()
    return {
        "total": total,
        "total_exact": exact,  # false: a broad search's estimate ("about")
        "tickets": [ticket_summary(ctx, t) for t in rows],
    }


def reference_data(session: Session) -> dict[str, list[str]]:
    return {
        "queues": list(
            session.execute(select(SupportQueue.slug).order_by(SupportQueue.slug)).scalars()
        ),
        "categories": list(
            session.execute(select(Category.slug).order_by(Category.slug)).scalars()
        ),
    }
