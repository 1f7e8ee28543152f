"""Erasing a client's personal data on request, with the audit still verifying.

``erase`` runs in the caller's transaction, a lead's (or the operator's) decision
with a written reason (which must not itself name the client). What it does, on
the rows ``holdings.collect`` finds:

- the contact (and the contacts linked into it): nameless, ``erased_at`` set; their
  identities are deleted (with the one-time link codes and the addresses the
  tickets remember), so the same address writing again is a new contact;
- their tickets: subject, hold note, parts reference and location replaced, the
  tracking link revoked, no reply address; every message on them (and every message
  they wrote elsewhere): text replaced, HTML and platform ids dropped; attachments
  renamed and their bytes deleted (unless another ticket still holds the same file);
  resolution steps, override reasons, satisfaction comments, link reasons emptied;
- raw inbound payloads (the email as it came, a chat update) of their tickets and of
  any record that holds one of their addresses: emptied, with their meta;
- deliveries to them or about their tickets: content and recipient dropped, those
  not yet sent cancelled; each channel forgets its own copies (``Context.forgetters``:
  chat ids, sent-part records, the local maildir's and the fake channel's files);
- stored API answers (idempotency keys) that hold their name or an address: deleted;
- any other message, subject or reason that names them (an address, or a full name
  of two words or more) has that mention replaced;
- audit events that hold any of it: emptied through ``core.audit.erase`` (the hash
  chain still verifies; ``audit verify`` lists them as erased on DATE by WHO);
- the search index: the words go with the rows (SQLite's FTS5 index is then merged
  so no deleted word stays in its pages; PostgreSQL's generated columns follow).

The erasure is audited on the system chain (``audit_erased``, naming every event it
emptied) and on each of their tickets (``personal_data_erased``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    String,
    cast,
    delete,
    false,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import audit
from core.channel import Forget
from core.contacts import FOUND, format_contact
from core.context import Context
from core.db import transaction_cache
from core.errors import ActionRefused
from core.events import PERSONAL_DATA_ERASED, Change
from core.models import (
    Attachment,
    Contact,
    ContactLink,
    Identity,
    InboundRecord,
    KnownAddress,
    LinkCode,
    Message,
    OutboxDelivery,
    Override,
    PortalSubmission,
    ResolutionRecord,
    SatisfactionAnswer,
    StoredBlob,
    Ticket,
)
from core.models.records import DeliveryStatus
from core.principals import Principal
from core.privacy import require_lead
from core.privacy.holdings import chunks, collect, leaves, names_any
from core.privacy.mentions import (
    ERASED,
    forget_answers,
    mentioning,
    raw_holding,
    replace_mentions,
)
from core.tickets.change import announce
from core.tokens import tracking_token

log = logging.getLogger(__name__)

MIN_REASON = 10
SEARCH_INDEXES = ("tickets_fts", "messages_fts", "contacts_fts", "identities_fts")


@dataclass
class Erasure:
    """What an erasure did, for the person who asked (counts, no personal data)."""

    contact: str
    by: str
    at: str
    reason: str
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact": self.contact,
            "erased_by": self.by,
            "erased_at": self.at,
            "reason": self.reason,
            "counts": self.counts,
        }


def erase(
    ctx: Context, session: Session, who: Principal, contact: Contact, *, reason: str
) -> Erasure:
    """Erase ``contact``'s personal data (see the module's docstring).

    Raises:
      ActionRefused: not a lead (``privacy.role``); no reason, or a reason that names
        the client (``privacy.reason``); already erased (``privacy.erased``).
    """
    require_lead(who, "erase")
    reason = reason.strip()
    if contact.erased_at is not None:
        raise ActionRefused(
            "privacy.erased",
            f"{format_contact(contact.id)}'s data was already erased on "
            f"{contact.erased_at:%Y-%m-%d}",
            kind="conflict",
        )
    if len(reason) < MIN_REASON:
        raise ActionRefused(
            "privacy.reason",
            f"say why, in at least {MIN_REASON} characters (e.g. the request's reference)",
            kind="field",
        )
    session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    if session.get_bind().dialect.name == "sqlite":  # freed bytes are zeroed, not left behind
        session.execute(text("PRAGMA secure_delete = ON"))
    held = collect(session, contact)
    needles = held.needles()
    if any(n in reason.lower() for n in needles):
        raise ActionRefused(
            "privacy.reason",
            "the reason is kept in the audit: it must not name the client or an address",
            kind="field",
        )
    now = ctx.now()
    result = Erasure(format_contact(contact.id), who.label, now.isoformat(), reason)
    counts = result.counts
    tickets = held.ids("tickets")
    contacts = held.ids("contacts")
    addresses = held.addresses()
    messages = held.ids("messages")

    # Deliveries: each channel forgets its copies first (it reads the keys).
    outbox = held.ids("outbox") | set(
        session.execute(
            select(OutboxDelivery.id).where(
                _pairs(OutboxDelivery, "channel", "recipient", addresses)
            )
        ).scalars()
    )
    keys = frozenset(
        k
        for part in chunks(outbox)
        for k in session.execute(
            select(OutboxDelivery.key).where(OutboxDelivery.id.in_(part))
        ).scalars()
    )
    for name, forget in sorted(ctx.forgetters.items()):
        forget(session, Forget(keys, frozenset(a for k, a in addresses if k == name)))
    for part in chunks(outbox):
        rows = OutboxDelivery.id.in_(part)
        _update(
            session,
            OutboxDelivery,
            rows,
            OutboxDelivery.status.in_(_WAITING),
            status=DeliveryStatus.CANCELLED,
            last_error="cancelled: personal data erased",
        )
        _update(session, OutboxDelivery, rows, payload={}, recipient=ERASED, report=None)
    counts["deliveries"] = len(outbox)

    # Messages and their files.
    found = mentioning(session, needles)
    counts["mentions"] = sum(len(ids) for ids in found.values())
    mentioned = _tickets_of(session, found)
    inbound = held.ids("inbound_records") | held.ids("messages", "inbound_record_id")
    _update_rows(session, Message, messages, body_text=ERASED, body_html=None, external_id=None)
    counts["messages"] = len(messages)
    files = held.ids("attachments", "sha256")
    _update_rows(session, Attachment, held.ids("attachments"), filename=ERASED, sha256="")
    gone = 0
    for part in chunks(files):
        still = set(
            session.execute(select(Attachment.sha256).where(Attachment.sha256.in_(part))).scalars()
        )
        orphans = [d for d in part if d not in still]
        if orphans:
            gone += session.execute(
                delete(StoredBlob).where(StoredBlob.sha256.in_(orphans))
            ).rowcount  # type: ignore[attr-defined]
    counts["attachments"] = len(held.ids("attachments"))
    counts["files_deleted"] = gone

    # Raw inbound payloads: theirs, and any other that holds one of their addresses.
    inbound |= raw_holding(session, {a for _, a in addresses})
    _update_rows(
        session,
        InboundRecord,
        inbound,
        raw=b"",
        meta={},
        external_id=literal("erased:", String) + cast(InboundRecord.id, String),
        written_key=None,
        reason=None,
    )
    counts["inbound_records"] = len(inbound)

    # Tickets and what was written on them.
    for part in chunks(tickets):
        _update(
            session,
            Ticket,
            Ticket.id.in_(part),
            subject=ERASED,
            hold_note=None,
            hold_parts_ref=None,
            location=None,
            requester_identity_id=None,
            reply_identity_id=None,
            updated_at=now,
        )
        for ticket_id in part:  # a link sent before must no longer open the page
            _update(session, Ticket, Ticket.id == ticket_id, tracking_token=tracking_token())
        edits: tuple[tuple[Any, str, str], ...] = (
            (ResolutionRecord, "steps", ERASED),
            (Override, "reason", ERASED),
            (SatisfactionAnswer, "comment", ""),
        )
        for model, column, value in edits:
            _update(session, model, model.ticket_id.in_(part), **{column: value})
        session.execute(delete(KnownAddress).where(KnownAddress.ticket_id.in_(part)))
        _update(session, PortalSubmission, PortalSubmission.ticket_id.in_(part), email="", ip="")
    counts["tickets"] = len(tickets)
    replace_mentions(session, found, needles)

    # Who they are: addresses, link codes, names.
    identities = held.ids("identities")
    pairs = _pairs(KnownAddress, "channel", "address", addresses)
    session.execute(delete(KnownAddress).where(pairs))
    _update(
        session,
        PortalSubmission,
        PortalSubmission.email.in_([a for k, a in addresses if k == "email"]),
        email="",
        ip="",
    )
    session.execute(
        delete(LinkCode).where(
            or_(
                LinkCode.contact_id.in_(contacts),
                LinkCode.identity_id.in_(identities),
                _pairs(LinkCode, "kind", "address", addresses),
            )
        )
    )
    _update(
        session,
        ContactLink,
        or_(ContactLink.contact_id.in_(contacts), ContactLink.other_contact_id.in_(contacts)),
        reason="",
    )
    references: tuple[tuple[Any, str], ...] = (
        (Ticket, "requester_identity_id"),
        (Ticket, "reply_identity_id"),
        (Message, "author_identity_id"),
    )
    for model, column in references:
        attr = getattr(model, column)
        _update(session, model, attr.in_(identities), **{column: None})
    session.execute(delete(Identity).where(Identity.id.in_(identities)))
    transaction_cache(session, FOUND).clear()  # none of them may be found again
    _update(session, Contact, Contact.id.in_(contacts), name="", erased_at=now)
    counts["identities"] = len(identities)
    counts["api_answers"] = forget_answers(session, needles)

    # The audit: empty what held any of it, then record the erasure.
    strings = needles | held.texts()
    emptied = [
        ev
        for ev in held.audit
        if ev.chain not in held.own_chains  # found by what they name
        or _holds_text(ev.data)
        or names_any(ev.data, strings)
    ]
    record = audit.erase(
        session,
        emptied,
        actor=who.label,
        about={
            "contact": result.contact,
            "reason": reason,
            "tickets": sorted(tickets),
            "counts": dict(counts),
        },
        now=now,
    )
    counts["audit_events"] = len(record.data["events"])
    erasure = record.seq
    session.flush()
    _merge_search_index(session)
    session.expire_all()
    # Each ticket of theirs, or one that mentioned them, says so on its chain, and the
    # observers hear of it as of any change: the Slack card and the lines posted in its
    # thread are drawn again from erased rows.
    for ticket_id in sorted(tickets | mentioned):
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        change = Change(
            PERSONAL_DATA_ERASED,
            ticket,
            who,
            ticket.status,
            ticket.status,
            fields={"contact": result.contact, "erasure": erasure},
        )
        announce(ctx, session, change, actor=who.label)
    return result


_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.PARKED)
# Keys whose values are free text (or addresses): an event holding one on the
# client's tickets is emptied even when the text names no one we know of.
FREE_TEXT = frozenset(
    {
        "text",
        "note",
        "reason",
        "before",
        "after",
        "steps",
        "comment",
        "subject",
        "parts_ref",
        "location",
        "why",
        "error",
        "address",
        "addresses_marked",
        "failed",
        "identities",
        "override",
        "name",
        "from_address",
    }
)


def _holds_text(data: dict[str, Any]) -> bool:
    return any(key in FREE_TEXT and value.strip() for key, value in leaves(data))


def _tickets_of(session: Session, found: dict[tuple[Any, str], set[Any]]) -> set[int]:
    """The tickets that mention the client: those whose subject, or one of whose messages
    (notes included), ``mentioning`` found them in."""
    tickets = {i for (model, _), ids in found.items() if model is Ticket for i in ids}
    messages = {i for (model, _), ids in found.items() if model is Message for i in ids}
    for part in chunks(messages):
        tickets.update(
            session.execute(select(Message.ticket_id).where(Message.id.in_(part))).scalars()
        )
    return tickets


def _update(session: Session, model: Any, *where: Any, **values: Any) -> None:
    """Set ``values`` on the rows of ``model`` that ``where`` picks, in one statement that
    leaves objects already loaded in the session alone."""
    session.execute(
        update(model).where(*where).values(**values).execution_options(synchronize_session=False)
    )


def _update_rows(session: Session, model: Any, ids: Iterable[int], **values: Any) -> None:
    """``_update`` the rows of ``model`` whose ids are ``ids``, a chunk at a time."""
    for part in chunks(ids):
        _update(session, model, model.id.in_(part), **values)


def _pairs(model: Any, kind: str, address: str, pairs: Iterable[tuple[str, str]]) -> Any:
    """(kind, address) IN pairs, as the databases both take it."""
    terms = [(getattr(model, kind) == k) & (getattr(model, address) == a) for k, a in pairs]
    return or_(*terms) if terms else false()


def _merge_search_index(session: Session) -> None:
    """SQLite's FTS5 keeps a deleted row's words in its pages until they are merged:
    merge them now, so no erased word can be read back from the index."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for name in SEARCH_INDEXES:
        session.execute(text(f"INSERT INTO {name}({name}) VALUES ('optimize')"))


def after_erasure(ctx: Context) -> None:
    """Once the erasure has committed, on SQLite: copy the write-ahead log into the
    database file and empty it, so the erased rows' old pages do not linger in
    ``switchboard.db-wal``. (PostgreSQL keeps old row versions until VACUUM.)"""
    if ctx.db.is_postgres:
        return
    try:
        with ctx.db.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    except OperationalError as exc:  # a reader holds the log: SQLite checkpoints it later
        log.info("after the erasure, the write-ahead log could not be emptied yet: %s", exc)
