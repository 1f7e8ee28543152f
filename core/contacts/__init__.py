"""Contacts and their identities across channels.

A contact is one person; each of their identities is their address on one channel
(an email address, a chat id, a phone number). A first-time sender gets a contact
of their own: two identities become one contact only on evidence (an agent's
link, or the client answering a code sent to the other address), never because a
name or a subject matches. See ``links`` (join and split), ``codes`` (the client's
own proof) and ``views`` (contacts as plain dicts).

Where a reply goes: to the identity of the client's last message on that ticket
(``Ticket.reply_identity``), whichever of the contact's channels that was.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from core.context import Context
from core.db import transaction_cache
from core.errors import NotFound
from core.models import Contact, Identity, Message, Organization, Ticket, as_id

CREATED = "identities_created"  # (kind, address) of identities this transaction created
FOUND = "identities_found"  # (kind, address) -> the identity (or None) looked up here
CONTACT_RE = re.compile(r"^\s*C-?0*(\d+)\s*$", re.IGNORECASE)
IDENTITY_RE = re.compile(r"^\s*([a-z][a-z0-9_]{0,19}):(.+)$", re.IGNORECASE)


def first_time_here(session: Session, kind: str, address: str) -> bool:
    """True once for an identity this transaction created (a first-time sender), on
    the first ask: after that, this transaction may have written to them already."""
    return transaction_cache(session, CREATED).pop((kind, normalize(kind, address)), False)


def normalize(kind: str, address: str) -> str:
    address = address.strip()
    return address.lower() if kind == "email" else address


def find_identity(session: Session, kind: str, address: str) -> Identity | None:
    """The identity for (kind, address), with its contact; looked up once per
    transaction (deciding a message asks for its sender's several times)."""
    key = (kind, normalize(kind, address))
    found: dict[tuple[str, str], Identity | None] = transaction_cache(session, FOUND)
    if key in found:
        return found[key]
    identity = found[key] = session.execute(
        select(Identity)
        .where(Identity.kind == kind, Identity.address == key[1])
        .options(joinedload(Identity.contact))  # its contact is read next: one statement
    ).scalar_one_or_none()
    return identity


def find_or_create(session: Session, kind: str, address: str, name: str = "") -> Identity:
    """The identity for (kind, address), creating a contact for a first-time sender."""
    address = normalize(kind, address)
    identity = find_identity(session, kind, address)
    if identity is not None:
        return _named(identity, name)
    org = None
    if kind == "email" and "@" in address:
        org = session.execute(
            select(Organization).where(Organization.email_domain == address.rsplit("@", 1)[1])
        ).scalar_one_or_none()
    contact = Contact(name=name, organization=org)
    identity = Identity(kind=kind, address=address, display=name, contact=contact)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite write transactions start with BEGIN IMMEDIATE: no other writer can
        # be creating the same identity now, so the savepoint would never be used.
        session.add_all([contact, identity])
        session.flush()
        transaction_cache(session, CREATED)[(kind, address)] = True
        transaction_cache(session, FOUND)[(kind, address)] = identity
        return identity
    try:
        with session.begin_nested():
            session.add_all([contact, identity])
    except IntegrityError:  # another transaction created it just now, maybe without a name
        transaction_cache(session, FOUND).pop((kind, address), None)
        identity = find_identity(session, kind, address)
        assert identity is not None
        return _named(identity, name)
    else:
        transaction_cache(session, CREATED)[(kind, address)] = True
        transaction_cache(session, FOUND)[(kind, address)] = identity
    return identity


def _named(identity: Identity, name: str) -> Identity:
    """A name learnt from a later message fills in a contact that had none."""
    if name and not identity.contact.name:
        identity.contact.name = name
    if name and not identity.display:
        identity.display = name
    return identity


# Naming contacts and identities ------------------------------------------------------


def format_contact(contact_id: int) -> str:
    return f"C-{contact_id:06d}"


def parse_identity(ref: str) -> tuple[str, str] | None:
    """``email:ana@example.com``, ``fake:client-1`` -> (kind, address); a bare email
    address is an email identity. None when ``ref`` names no identity."""
    match = IDENTITY_RE.match(ref or "")
    if match and not match.group(1).lower().startswith("mailto"):
        kind = match.group(1).lower()
        return kind, normalize(kind, match.group(2))
    if "@" in (ref or "") and " " not in ref.strip():
        return "email", normalize("email", ref.removeprefix("mailto:"))
    return None


def get_contact(session: Session, ref: str | int, *, follow: bool = True) -> Contact:
    """The contact ``ref`` names: ``C-000012`` (or ``C12``, ``12``), or one of its
    identities (``email:ana@example.com``). With ``follow``, a contact that was linked
    into another gives that one. Raises ``NotFound``."""
    contact: Contact | None = None
    text = str(ref).strip()
    match = CONTACT_RE.match(text) or re.match(r"^\s*(\d+)\s*$", text)
    if match:
        number = as_id(match.group(1))
        contact = session.get(Contact, number) if number is not None else None
    else:
        parsed = parse_identity(text)
        if parsed is not None:
            identity = find_identity(session, *parsed)
            contact = identity.contact if identity is not None else None
    if contact is None:
        raise NotFound(f"no contact '{text}' (give C-000123 or CHANNEL:ADDRESS)")
    seen = {contact.id}
    while follow and contact.merged_into_id and contact.merged_into_id not in seen:
        nxt = session.get(Contact, contact.merged_into_id)
        if nxt is None:
            break
        seen.add(nxt.id)
        contact = nxt
    return contact


def contact_to_link(ctx: Context, session: Session, ref: str) -> Contact:
    """The contact an agent names to link (``get_contact``); an address nobody has
    written from yet, on a channel run here, is added as a new identity (an agent
    telling us the client's other address)."""
    try:
        return get_contact(session, ref)
    except NotFound:
        parsed = parse_identity(ref)
        if parsed is None or parsed[0] not in ctx.client_channels:
            raise
        return find_or_create(session, *parsed).contact


def identity_of(session: Session, contact: Contact, ref: str | int) -> Identity:
    """One of ``contact``'s identities, by id or ``CHANNEL:ADDRESS``. Raises ``NotFound``."""
    text = str(ref).strip()
    found: Identity | None = None
    if text.isdigit():
        number = as_id(text)
        found = session.get(Identity, number) if number is not None else None
    else:
        parsed = parse_identity(text)
        found = find_identity(session, *parsed) if parsed else None
    if found is None or found.contact_id != contact.id:
        raise NotFound(f"{format_contact(contact.id)} has no identity '{text}'")
    return found


# Where the next message to the client goes ------------------------------------------


def last_used(
    session: Session, ticket: Ticket, kinds: Collection[str] | None = None
) -> Identity | None:
    """The identity of the client's last message on ``ticket``: any identity of the
    ticket's contact (a copied participant's messages do not count), of one of
    ``kinds`` when given."""
    query = (
        select(Identity)
        .join(Message, Message.author_identity_id == Identity.id)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == "in",
            Identity.contact_id == ticket.contact_id,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if kinds is not None:
        query = query.where(Identity.kind.in_(sorted(kinds)))
    return session.execute(query).scalar_one_or_none()


def refresh_reply_identity(session: Session, ticket: Ticket) -> None:
    """Point the ticket's replies at the client's last used identity again (after a
    link or a split changed whose identities are whose)."""
    chosen = last_used(session, ticket)
    if chosen is None and ticket.requester_identity_id:
        requester = session.get(Identity, ticket.requester_identity_id)
        if requester is not None and requester.contact_id == ticket.contact_id:
            chosen = requester
    if chosen is None:
        chosen = (
            session.execute(
                select(Identity)
                .where(Identity.contact_id == ticket.contact_id)
                .order_by(Identity.id)
            )
            .scalars()
            .first()
        )
    ticket.reply_identity_id = chosen.id if chosen is not None else None
    ticket.reply_identity = chosen


def reply_to(ctx: Context, session: Session, ticket: Ticket) -> Identity | None:
    """The identity the next message to the client goes to: the one they last used on
    this ticket; if that channel is not run here (any more), the most recent other
    identity of theirs on a channel that is."""
    chosen = ticket.reply_identity
    if chosen is None or chosen.kind in ctx.client_channels:
        return chosen
    used = last_used(session, ticket, ctx.client_channels)
    if used is not None:
        return used
    other = session.execute(
        select(Identity)
        .where(
            Identity.contact_id == ticket.contact_id,
            Identity.kind.in_(sorted(ctx.client_channels)),
        )
        .order_by(Identity.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return other or chosen  # none reachable: the delivery says why


def reply_channel(ctx: Context, session: Session, ticket: Ticket, default: str = "default") -> str:
    """The channel of ``reply_to`` (for choosing the message's template), or ``default``."""
    chosen = reply_to(ctx, session, ticket)
    return chosen.kind if chosen is not None else default
