"""Join two contacts into one, and split an identity off again.

``link`` moves every identity of one contact into another, with its tickets, the
messages it wrote and its places on other tickets: from then on the person's
tickets and history are one, and a reply goes wherever they last wrote from.
``split`` undoes it one identity at a time: the identity goes back to the contact
it came from (or to a new one) with the tickets it opened and the messages it
wrote. Both are audited (the ``system`` chain, and every ticket that changed
hands), recorded in the contact's history (``ContactLink``) and need evidence:
an agent's judgement (``evidence="agent"``) or a client's answered code
(``core.contacts.codes``). Nothing here ever runs on a matching name or subject.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import audit
from core.contacts import format_contact, refresh_reply_identity
from core.context import Context
from core.errors import ActionRefused
from core.events import Change
from core.models import Contact, ContactLink, Identity, Message, Participant, Ticket
from core.principals import Principal

EVIDENCE = ("agent", "client_code", "client_link")


def _check(who: Principal, evidence: str) -> None:
    if evidence not in EVIDENCE:
        raise ValueError(f"unknown evidence {evidence!r}")
    if evidence == "agent" and not who.is_staff and who.kind != "system":
        raise ActionRefused(
            "contacts.role", "only an agent may link or split contacts", kind="role"
        )


def _touched_tickets(session: Session, contact_ids: list[int]) -> list[Ticket]:
    """Tickets these contacts open or take part in, locked, in id order."""
    ids = set(
        session.execute(
            select(Participant.ticket_id).where(Participant.contact_id.in_(contact_ids))
        ).scalars()
    ) | set(session.execute(select(Ticket.id).where(Ticket.contact_id.in_(contact_ids))).scalars())
    if not ids:
        return []
    return list(
        session.execute(
            select(Ticket).where(Ticket.id.in_(sorted(ids))).order_by(Ticket.id).with_for_update()
        ).scalars()
    )


def _describe(identities: list[Identity]) -> list[str]:
    return [f"{i.kind}:{i.address}" for i in identities]


def link(
    ctx: Context,
    session: Session,
    who: Principal,
    keep: Contact,
    other: Contact,
    *,
    evidence: str = "agent",
    reason: str = "",
) -> ContactLink:
    """Make ``other`` part of ``keep``: its identities, tickets and messages move over.

    Raises ``ActionRefused`` when they are already one, or when ``who`` may not.
    """
    _check(who, evidence)
    if keep.id == other.id:
        raise ActionRefused(
            "contacts.same", f"{format_contact(keep.id)} is already that contact", kind="conflict"
        )
    for contact in (keep, other):
        if contact.merged_into_id:
            raise ActionRefused(
                "contacts.merged",
                f"{format_contact(contact.id)} was linked into "
                f"{format_contact(contact.merged_into_id)}; link that one",
                kind="conflict",
            )
    tickets = _touched_tickets(session, [keep.id, other.id])
    before = _snapshot(tickets)
    moved = list(other.identities)
    for identity in moved:
        identity.contact = keep
    session.flush()
    session.execute(
        update(Message)
        .where(
            Message.author_contact_id == other.id,
            Message.ticket_id.in_([t.id for t in tickets]),
        )
        .values(author_contact_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    _move_participants(session, tickets, other.id, keep.id)
    changed = [t for t in tickets if t.contact_id == other.id]
    for ticket in changed:
        ticket.contact_id = keep.id
    if not keep.name and other.name:
        keep.name = other.name
    if keep.organization_id is None:
        keep.organization_id = other.organization_id
    other.merged_into_id = keep.id
    session.flush()
    session.expire(keep, ["identities"])
    session.expire(other, ["identities"])
    for ticket in tickets:
        refresh_reply_identity(session, ticket)
    return _record(
        ctx,
        session,
        who,
        "link",
        keep,
        other,
        moved,
        evidence=evidence,
        reason=reason,
        tickets=tickets,
        before=before,
    )


def _move_participants(session: Session, tickets: list[Ticket], old: int, new: int) -> None:
    """``old``'s places on these tickets become ``new``'s (one row per ticket)."""
    rows = session.execute(
        select(Participant).where(
            Participant.ticket_id.in_([t.id for t in tickets]),
            Participant.contact_id.in_([old, new]),
        )
    ).scalars()
    by_ticket: dict[int, dict[int, Participant]] = {}
    for row in rows:
        by_ticket.setdefault(row.ticket_id, {})[row.contact_id] = row
    for places in by_ticket.values():
        gone = places.get(old)
        if gone is None:
            continue
        stays = places.get(new)
        if stays is None:
            gone.contact_id = new
        else:
            if gone.role == "requester":
                stays.role = "requester"
            session.delete(gone)


def split(
    ctx: Context,
    session: Session,
    who: Principal,
    identity: Identity,
    *,
    reason: str = "",
) -> Contact:
    """Take ``identity`` off its contact, with the tickets it opened and the messages
    it wrote; returns the contact it now belongs to (the one it was linked in from,
    when that one is still free, else a new one). An agent's decision only."""
    _check(who, "agent")
    contact = identity.contact
    if len(contact.identities) < 2:
        raise ActionRefused(
            "contacts.only_identity",
            f"{identity.kind}:{identity.address} is {format_contact(contact.id)}'s only identity; "
            "there is nothing to split it from",
            kind="conflict",
        )
    target = _home_of(session, contact, identity)
    if target is None:
        target = Contact(
            name=identity.display or contact.name,
            organization_id=contact.organization_id,
            created_at=ctx.now(),
        )
        session.add(target)
    target.merged_into_id = None
    session.flush()
    tickets = _touched_tickets(session, [contact.id, target.id])
    before = _snapshot(tickets)
    identity.contact = target
    session.flush()
    ticket_ids = [t.id for t in tickets]
    session.execute(
        update(Message)
        .where(Message.author_identity_id == identity.id, Message.ticket_id.in_(ticket_ids))
        .values(author_contact_id=target.id)
        .execution_options(synchronize_session=False)
    )
    wrote = {
        (ticket_id, author)
        for ticket_id, author in session.execute(
            select(Message.ticket_id, Message.author_contact_id).where(
                Message.ticket_id.in_(ticket_ids),
                Message.author_contact_id.in_([contact.id, target.id]),
            )
        )
    }
    for ticket in tickets:
        if ticket.requester_identity_id == identity.id:
            ticket.contact_id = target.id
        _settle_places(session, ticket, contact.id, target.id, wrote)
    session.flush()
    session.expire(contact, ["identities"])
    session.expire(target, ["identities"])
    for ticket in tickets:
        refresh_reply_identity(session, ticket)
    _record(
        ctx,
        session,
        who,
        "split",
        contact,
        target,
        [identity],
        evidence="agent",
        reason=reason,
        tickets=tickets,
        before=before,
    )
    return target


def _home_of(session: Session, contact: Contact, identity: Identity) -> Contact | None:
    """The contact ``identity`` was linked into ``contact`` from, if it is still free
    (emptied by that link, or already given back an identity of its own by a split)."""
    links = session.execute(
        select(ContactLink)
        .where(ContactLink.contact_id == contact.id, ContactLink.action == "link")
        .order_by(ContactLink.id.desc())
    ).scalars()
    for row in links:
        if identity.id in (row.identity_ids or []):
            home = session.get(Contact, row.other_contact_id)
            if home is not None and home.merged_into_id in (None, contact.id):
                return home
            return None
    return None


def _settle_places(
    session: Session, ticket: Ticket, old: int, new: int, wrote: set[tuple[int, int | None]]
) -> None:
    """After a split, each of the two contacts takes part in ``ticket`` if it is the
    ticket's requester or wrote on it; the one that did neither loses its place."""
    rows = {
        p.contact_id: p
        for p in session.execute(
            select(Participant).where(
                Participant.ticket_id == ticket.id, Participant.contact_id.in_([old, new])
            )
        ).scalars()
    }
    for contact_id in (old, new):
        requester = ticket.contact_id == contact_id
        belongs = requester or (ticket.id, contact_id) in wrote
        row = rows.get(contact_id)
        if belongs and row is None:
            session.add(
                Participant(
                    ticket_id=ticket.id,
                    contact_id=contact_id,
                    role="requester" if requester else "cc",
                )
            )
        elif belongs and row is not None:
            row.role = "requester" if requester else ("cc" if row.role == "requester" else row.role)
        elif row is not None and contact_id == old and ticket.contact_id == new:
            session.execute(delete(Participant).where(Participant.id == row.id))


def _record(
    ctx: Context,
    session: Session,
    who: Principal,
    action: str,
    contact: Contact,
    other: Contact,
    identities: list[Identity],
    *,
    evidence: str,
    reason: str,
    tickets: list[Ticket],
    before: dict[int, tuple[int, int | None]],
) -> ContactLink:
    """The history row, the audit events, and the observers of every ticket whose
    client or reply address changed (the Slack card shows both)."""
    row = ContactLink(
        action=action,
        contact_id=contact.id,
        other_contact_id=other.id,
        identity_ids=[i.id for i in identities],
        evidence=evidence,
        actor=who.label[:200],
        reason=reason.strip(),
        created_at=ctx.now(),
    )
    session.add(row)
    data = {
        "contact": format_contact(contact.id),
        "other": format_contact(other.id),
        "identities": _describe(identities),
        "evidence": evidence,
        "reason": reason.strip(),
    }
    name = "contacts_linked" if action == "link" else "contact_split"
    audit.record(session, actor=who.label, action=name, data=data, now=ctx.now())
    for ticket in tickets:
        audit.record(
            session, actor=who.label, action=name, ticket_id=ticket.id, data=data, now=ctx.now()
        )
    session.flush()
    for ticket in tickets:
        if before[ticket.id] != (ticket.contact_id, ticket.reply_identity_id):
            change = Change(name, ticket, who, ticket.status, ticket.status, data)
            for observer in ctx.observers:
                observer(ctx, session, change)
    return row


def _snapshot(tickets: list[Ticket]) -> dict[int, tuple[int, int | None]]:
    return {t.id: (t.contact_id, t.reply_identity_id) for t in tickets}
