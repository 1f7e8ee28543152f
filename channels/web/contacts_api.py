"""The JSON API for contacts: one client across channels.

``GET /api/contacts?q=`` finds contacts by any address (or name);
``GET /api/contacts/{ref}`` shows one with its identities, tickets and history;
``POST /api/contacts/{ref}/link`` joins another contact into it (an agent's
judgement, audited) and ``POST /api/contacts/{ref}/unlink`` splits an identity
off again. ``GET /api/contacts/{ref}/export`` and ``POST /api/contacts/{ref}/erase``
(leads and admins) export everything held about the client, or erase it
(``core.privacy``). ``ref`` is ``C-000123`` or one of its addresses, ``CHANNEL:ADDRESS``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from channels.web.api import CtxDep, WhoDep
from core import contacts
from core.contacts import links
from core.contacts import views as contact_views
from core.errors import ActionRefused
from core.privacy import erase, export

router = APIRouter()


class LinkContactBody(BaseModel):
    contact: str = Field(
        min_length=1, description="The contact to join into this one: C-000123 or CHANNEL:ADDRESS"
    )
    reason: str = Field("", description="Why they are the same person (kept in the audit).")


class EraseBody(BaseModel):
    reason: str = Field(
        min_length=1, description="Why (the request's reference); kept in the audit."
    )
    confirm: bool = Field(False, description="Must be true: the erasure cannot be undone.")


class UnlinkBody(BaseModel):
    identity: str = Field(
        min_length=1, description="The identity to split off: its id or CHANNEL:ADDRESS"
    )
    reason: str = ""


@router.get("/contacts")
def list_contacts(
    ctx: CtxDep,
    who: WhoDep,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Contacts with an address on any channel (or a name) containing ``q``."""
    with ctx.db.reading() as session:
        return contact_views.search(session, q, limit)


@router.get("/contacts/{ref}")
def show_contact(ctx: CtxDep, who: WhoDep, ref: str) -> dict[str, Any]:
    """One contact: identities on every channel, tickets, link history."""
    with ctx.db.reading() as session:
        return contact_views.contact_detail(
            ctx, session, contacts.get_contact(session, ref, follow=False)
        )


@router.post("/contacts/{ref}/link")
def link_contact(ctx: CtxDep, who: WhoDep, ref: str, body: LinkContactBody) -> dict[str, Any]:
    """Join ``body.contact`` into this contact: their tickets and history become one."""
    with ctx.db.transaction() as session:
        keep = contacts.get_contact(session, ref)
        other = contacts.contact_to_link(ctx, session, body.contact)
        links.link(ctx, session, who, keep, other, evidence="agent", reason=body.reason)
        kept = keep.id
    with ctx.db.reading() as session:
        return contact_views.contact_detail(ctx, session, contacts.get_contact(session, kept))


@router.post("/contacts/{ref}/unlink")
def unlink_contact(ctx: CtxDep, who: WhoDep, ref: str, body: UnlinkBody) -> dict[str, Any]:
    """Split one identity off this contact, with the tickets it opened; returns both."""
    with ctx.db.transaction() as session:
        contact = contacts.get_contact(session, ref)
        identity = contacts.identity_of(session, contact, body.identity)
        target = links.split(ctx, session, who, identity, reason=body.reason)
        ids = contact.id, target.id
    with ctx.db.reading() as session:
        return {
            "contact": contact_views.contact_detail(
                ctx, session, contacts.get_contact(session, ids[0])
            ),
            "split_off": contact_views.contact_detail(
                ctx, session, contacts.get_contact(session, ids[1])
            ),
        }


@router.get("/contacts/{ref}/export")
def export_contact(ctx: CtxDep, who: WhoDep, ref: str) -> dict[str, Any]:
    """Everything held about the contact as one JSON document (leads and admins; audited)."""
    with ctx.db.transaction() as session:
        return export.export(ctx, session, who, contacts.get_contact(session, ref))


@router.post("/contacts/{ref}/erase")
def erase_contact(ctx: CtxDep, who: WhoDep, ref: str, body: EraseBody) -> dict[str, Any]:
    """Erase the contact's personal data for good (leads and admins; audited)."""
    if not body.confirm:
        raise ActionRefused(
            "privacy.confirm",
            "an erasure cannot be undone: send confirm: true to do it",
            kind="field",
        )
    with ctx.db.transaction() as session:
        done = erase.erase(
            ctx, session, who, contacts.get_contact(session, ref), reason=body.reason
        )
    erase.after_erasure(ctx)
    return done.as_dict()
