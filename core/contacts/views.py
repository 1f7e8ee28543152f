"""Contacts as plain dicts: who they are on which channel, their tickets, their history.

The JSON API, the command line and Slack print the same shapes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.contacts import format_contact
from core.context import Context
from core.models import Contact, ContactLink, Identity, LinkCode, Participant, Ticket
from core.tickets.views import iso, ticket_summary


def contact_summary(contact: Contact) -> dict[str, Any]:
    return {
        "id": format_contact(contact.id),
        "name": contact.name,
        "organization": contact.organization.name if contact.organization else None,
        "merged_into": format_contact(contact.merged_into_id) if contact.merged_into_id else None,
        "identities": [
            {
                "id": i.id,
                "channel": i.kind,
                "address": i.address,
                "display": i.display,
                "since": iso(i.created_at),
            }
            for i in contact.identities
        ],
        "created_at": iso(contact.created_at),
    }


def contact_detail(ctx: Context, session: Session, contact: Contact) -> dict[str, Any]:
    """The contact with every identity, their tickets (all channels), the tickets they
    were copied on, their link history and any link code still waiting for an answer."""
    data = contact_summary(contact)
    own = (
        session.execute(
            select(Ticket).where(Ticket.contact_id == contact.id).order_by(Ticket.id.desc())
        )
        .scalars()
        .all()
    )
    data["tickets"] = [ticket_summary(ctx, t) for t in own]
    copied = (
        session.execute(
            select(Ticket)
            .join(Participant, Participant.ticket_id == Ticket.id)
            .where(Participant.contact_id == contact.id, Ticket.contact_id != contact.id)
            .order_by(Ticket.id.desc())
        )
        .scalars()
        .all()
    )
    data["copied_on"] = [ticket_summary(ctx, t) for t in copied]
    identities = {
        i.id: f"{i.kind}:{i.address}"
        for i in session.execute(
            select(Identity).where(
                Identity.id.in_(
                    [
                        n
                        for row in session.execute(
                            select(ContactLink.identity_ids).where(_involves(contact.id))
                        ).scalars()
                        for n in (row or [])
                    ]
                )
            )
        ).scalars()
    }
    data["history"] = [
        {
            "action": row.action,
            "contact": format_contact(row.contact_id),
            "other": format_contact(row.other_contact_id),
            "identities": [identities.get(n, f"identity {n}") for n in row.identity_ids or []],
            "evidence": row.evidence,
            "by": row.actor,
            "reason": row.reason,
            "at": iso(row.created_at),
        }
        for row in session.execute(
            select(ContactLink).where(_involves(contact.id)).order_by(ContactLink.id)
        ).scalars()
    ]
    data["pending_codes"] = [
        {
            "to": f"{row.kind}:{row.address}",
            "expires_at": iso(row.expires_at),
            "attempts": row.attempts,
        }
        for row in session.execute(
            select(LinkCode)
            .where(
                LinkCode.contact_id == contact.id,
                LinkCode.used_at.is_(None),
                LinkCode.expires_at > ctx.now(),
            )
            .order_by(LinkCode.id)
        ).scalars()
    ]
    return data


def _involves(contact_id: int) -> Any:
    return or_(ContactLink.contact_id == contact_id, ContactLink.other_contact_id == contact_id)


def search(session: Session, query: str = "", limit: int = 50) -> dict[str, Any]:
    """Contacts with an address (any channel) or a name containing ``query``; contacts
    linked into another are left out (their identities belong to that one now)."""
    stmt = select(Contact).where(Contact.merged_into_id.is_(None))
    if query.strip():
        like = f"%{query.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Contact.name).like(like),
                Contact.id.in_(
                    select(Identity.contact_id).where(func.lower(Identity.address).like(like))
                ),
            )
        )
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Contact.id.desc()).limit(limit)).scalars().all()
    return {"total": total, "contacts": [contact_summary(c) for c in rows]}
