"""Client companies and their contract tier.

An organization's ``tier`` is what ``[[sla_rules]]`` select by (``tier = "premium"``);
its ``email_domain`` puts a first-time sender from that domain in it. Changing the
tier, or the organization of a client, moves their open tickets to the policy it
selects now: the clocks are recomputed from each ticket's history
(``core.sla.ticket.refresh``) and each ticket whose policy changed gets an audit
event. Every change is audited on the ``system`` chain; only a lead or an admin (or
the operator at the command line) makes one.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import audit, contacts
from core.agents import require_manager
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.models import Contact, Organization, Ticket, as_id
from core.principals import Principal
from core.sla import ticket as sla
from core.tickets.lifecycle import OPEN_STATES
from core.tickets.views import iso

TIER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DOMAIN_RE = re.compile(r"^(?=.{1,200}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")
FIELDS = ("name", "tier", "email_domain")
UNIQUE = ("name", "email_domain")  # two organizations never share these


def org_dict(org: Organization, session: Session | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "tier": org.tier,
        "email_domain": org.email_domain,
        "created_at": iso(org.created_at),
    }
    if session is not None:
        data["contacts"] = session.execute(
            select(func.count()).select_from(Contact).where(Contact.organization_id == org.id)
        ).scalar_one()
        data["open_tickets"] = session.execute(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.organization_id == org.id, Ticket.status.in_(OPEN_STATES))
        ).scalar_one()
    return data


def listing(session: Session) -> list[dict[str, Any]]:
    return [
        org_dict(o)
        for o in session.execute(select(Organization).order_by(Organization.name)).scalars()
    ]


def get(session: Session, ref: str) -> Organization:
    """An organization by id or name (any case). Raises ``NotFound``."""
    ref = ref.strip()
    org_id = as_id(ref) if ref.isdigit() else None
    org = (
        session.get(Organization, org_id)
        if org_id is not None
        else session.execute(
            select(Organization).where(func.lower(Organization.name) == ref.lower())
        ).scalar_one_or_none()
    )
    if org is None:
        raise NotFound(f"no organization '{ref}' (organizations list shows them)")
    return org


def _checked(session: Session, org: Organization | None, changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in FIELDS:
            raise ActionRefused(
                f"field.{key}", f"unknown field; known: {', '.join(FIELDS)}", kind="field"
            )
        if value is None and key != "email_domain":
            continue
        text = (value or "").strip()
        if key == "name" and not 0 < len(text) <= 200:
            raise ActionRefused("field.name", "a name of 1 to 200 characters", kind="field")
        if key == "tier" and not TIER_RE.match(text.lower()):
            raise ActionRefused(
                "field.tier",
                f"tier '{text}': lower-case letters, digits, - and _ (e.g. premium)",
                kind="field",
            )
        if key == "email_domain" and text and not DOMAIN_RE.match(text.lower()):
            raise ActionRefused(
                "field.email_domain",
                f"'{text}' is not a domain (e.g. client.example)",
                kind="field",
            )
        value = text.lower() if key in ("tier", "email_domain") else text
        column = getattr(Organization, key)
        if value and key in UNIQUE:
            other = session.execute(
                # SQLite's lower() folds ASCII only: the exact value is checked too.
                select(Organization).where(
                    or_(column == value, func.lower(column) == value.lower())
                )
            ).scalar_one_or_none()
            if other is not None and other is not org:
                raise ActionRefused(
                    f"organization.{key}_taken",
                    f"organization {other.id} ({other.name}) has this {key} already",
                    kind="conflict",
                )
        out[key] = (value or None) if key == "email_domain" else value
    return out


def create(
    ctx: Context,
    session: Session,
    who: Principal,
    name: str,
    tier: str = "standard",
    email_domain: str | None = None,
) -> Organization:
    require_manager(who, "add an organization")
    values = _checked(session, None, {"name": name, "tier": tier, "email_domain": email_domain})
    org = Organization(**values, created_at=ctx.now())
    session.add(org)
    session.flush()
    audit.record(
        session,
        actor=who.label,
        action="organization_added",
        data={"organization": org.id, **values},
        now=ctx.now(),
    )
    return org


def update(
    ctx: Context, session: Session, who: Principal, org: Organization, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields given; a new tier moves the organization's open tickets to the
    SLA policy it selects. Returns the organization and the tickets whose policy changed."""
    require_manager(who, "change an organization")
    values = _checked(session, org, changes)
    before = {k: getattr(org, k) for k in values}
    values = {k: v for k, v in values.items() if before[k] != v}
    moved: list[str] = []
    if values:
        for key, value in values.items():
            setattr(org, key, value)
        session.flush()
        audit.record(
            session,
            actor=who.label,
            action="organization_changed",
            data={"organization": org.id, "from": {k: before[k] for k in values}, "to": values},
            now=ctx.now(),
        )
        if "tier" in values:
            moved = _repolicy(ctx, session, who, Ticket.organization_id == org.id)
    return {**org_dict(org, session), "tickets_moved": moved}


def set_contact_organization(
    ctx: Context, session: Session, who: Principal, contact_ref: str, org: Organization | None
) -> dict[str, Any]:
    """Put a client in an organization (None: in none). Their open tickets follow, with
    the SLA policy the organization's tier selects."""
    require_manager(who, "change a client's organization")
    contact = contacts.get_contact(session, contact_ref)
    new_id = org.id if org else None
    moved: list[str] = []
    if contact.organization_id != new_id:
        before = contact.organization_id
        contact.organization_id = new_id
        session.flush()
        audit.record(
            session,
            actor=who.label,
            action="contact_organization",
            data={"contact": contact.id, "from": before, "to": new_id},
            now=ctx.now(),
        )
        moved = _repolicy(ctx, session, who, Ticket.contact_id == contact.id, new_id)
    return {
        "contact": contacts.format_contact(contact.id),
        "organization": org_dict(org) if org else None,
        "tickets_moved": moved,
    }


def _repolicy(
    ctx: Context,
    session: Session,
    who: Principal,
    where: Any,
    organization_id: int | None | str = "keep",
) -> list[str]:
    """Refresh the SLA of the open tickets ``where`` selects (giving them
    ``organization_id`` unless ``keep``); the numbers of those whose policy changed."""
    moved = []
    tickets = session.execute(
        select(Ticket)
        .where(where, Ticket.status.in_(OPEN_STATES))
        .order_by(Ticket.id)
        .with_for_update()
    ).scalars()
    for ticket in tickets:
        if organization_id != "keep":
            ticket.organization_id = organization_id  # type: ignore[assignment]
        before = ticket.sla_policy
        sla.refresh(ctx, ticket)
        if ticket.sla_policy != before:
            moved.append(ticket.number)
            audit.record(
                session,
                actor=who.label,
                action="sla_policy",
                ticket_id=ticket.id,
                data={"from": before, "to": ticket.sla_policy, "why": "organization"},
                now=ctx.now(),
            )
    return moved
