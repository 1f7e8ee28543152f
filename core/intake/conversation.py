"""One conversation, one ticket: who a ticket knows, its family, and its subject.

A ticket *knows* its participants and everyone its conversation reached (in To/Cc
of a message in it: ``KnownAddress``). Its *family* is the ticket and the tickets
linked to it (a stranger's mail opens a ticket linked to the one it pointed at;
mail to a closed ticket opens a linked one), merges followed. Threading rules use
both: a reply joins the ticket of the family that knows its sender.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from core import contacts
from core.context import Context
from core.models import (
    InboundRecord,
    KnownAddress,
    Message,
    OutboxDelivery,
    Participant,
    Ticket,
    TicketStatus,
)
from core.tickets.lookup import follow_merges
from core.values import Inbound

FAMILY_LIMIT = 50

REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|odp|ynt|ref|rif|r|réf|回复|答复|fwd?|fw|wg|tr|rv|enc|doorst)"
    r"\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
TAGS = re.compile(r"\[[^\]]{0,60}\]\s*")


def is_reply_subject(subject: str) -> bool:
    match = REPLY_PREFIX.match(subject or "")
    return bool(match) and not re.match(r"^\s*(fwd?|fw|wg|tr|rv|enc)\b", subject, re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """A subject without reply/forward prefixes, bracket tags and case: the conversation's name."""
    text = subject or ""
    for _ in range(5):
        before = text
        text = TAGS.sub("", REPLY_PREFIX.sub("", text)).strip()
        if text == before:
            break
    return " ".join(text.casefold().split())


def family(session: Session, tickets: Sequence[Ticket]) -> list[Ticket]:
    """The tickets linked to any of ``tickets`` (both ways, transitively), open and recent first."""
    found: dict[int, Ticket] = {t.id: t for t in tickets}
    frontier = set(found)
    while frontier and len(found) < FAMILY_LIMIT:
        parents = {
            t.linked_from_id for t in found.values() if t.id in frontier and t.linked_from_id
        }
        linked = session.execute(
            select(Ticket)
            .where(or_(Ticket.linked_from_id.in_(frontier), Ticket.id.in_(parents)))
            .limit(FAMILY_LIMIT)
        ).scalars()
        frontier = set()
        for ticket in linked:
            ticket = follow_merges(session, ticket)
            if ticket.id not in found:
                found[ticket.id] = ticket
                frontier.add(ticket.id)
    return sorted(
        found.values(),
        key=lambda t: (
            t.status == TicketStatus.CLOSED,
            -(t.updated_at.timestamp() if t.updated_at else 0),
        ),
    )


def knows(
    session: Session, ticket: Ticket, channel: str, address: str, contact_id: int | None
) -> bool:
    """Whether the sender takes part in the ticket or its conversation reached them."""
    if contact_id is not None and (
        session.execute(
            select(Participant.id).where(
                Participant.ticket_id == ticket.id, Participant.contact_id == contact_id
            )
        ).first()
        is not None
    ):
        return True
    return (
        session.execute(
            select(KnownAddress.id).where(
                KnownAddress.ticket_id == ticket.id,
                KnownAddress.channel == channel,
                KnownAddress.address == address.lower(),
            )
        ).first()
        is not None
    )


def remember(
    session: Session, ticket_id: int, channel: str, addresses: Iterable[str], now: datetime
) -> None:
    """The conversation reached these addresses (To/Cc of a message in the ticket)."""
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return
    # Without flushing first: every address known before this message is in the
    # database already, and the writes pending now go out together at the end.
    with session.no_autoflush:
        have = set(
            session.execute(
                select(KnownAddress.address).where(
                    KnownAddress.ticket_id == ticket_id,
                    KnownAddress.channel == channel,
                    KnownAddress.address.in_(wanted),
                )
            ).scalars()
        )
    session.add_all(
        KnownAddress(ticket_id=ticket_id, channel=channel, address=a[:320], created_at=now)
        for a in sorted(wanted - have)
    )


def answered_automatic_within(ctx: Context, session: Session, inbound: Inbound) -> float | None:
    """The seconds between our last automatic message to the sender (an acknowledgement,
    a notice) and this message, when that is under ``ctx.machine_answer_seconds``: faster
    than a person reads and writes. None otherwise."""
    window = ctx.machine_answer_seconds
    arrived = inbound.received_at
    if window <= 0 or arrived is None or inbound.chat or inbound.channel in ctx.silent_channels:
        return None  # people type several lines in a chat within seconds
    rows = session.execute(
        select(OutboxDelivery.sent_at, OutboxDelivery.payload)
        .where(
            OutboxDelivery.channel == inbound.channel,
            OutboxDelivery.recipient == contacts.normalize(inbound.channel, inbound.sender),
            OutboxDelivery.sent_at >= arrived - timedelta(seconds=window),
            OutboxDelivery.sent_at <= arrived,
        )
        .order_by(OutboxDelivery.sent_at.desc())
        .limit(20)
    ).all()
    for sent_at, payload in rows:
        if (payload or {}).get("automatic"):
            return max(0.0, (arrived - sent_at).total_seconds())
    return None


MACHINE_SPEED = "machine_speed"


def previous_was_machine_speed(session: Session, inbound: Inbound) -> bool:
    """Whether the sender's previous message also answered an automatic one within seconds."""
    identity = contacts.find_identity(session, inbound.channel, inbound.sender)
    if identity is None:
        return False
    fired = session.execute(
        select(InboundRecord.rules_fired)
        .join(Message, Message.inbound_record_id == InboundRecord.id)
        .where(Message.author_identity_id == identity.id)
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return any(str(rule).startswith(MACHINE_SPEED) for rule in fired or ())


def chat_address(chat: str) -> str:
    """How a chat is remembered among a ticket's known addresses on its channel."""
    return f"chat:{chat}"


def lock_chat(session: Session, channel: str, chat: str) -> None:
    """Two messages from one chat decided at once take turns, so the first one's new
    ticket is the second one's open ticket (PostgreSQL; SQLite writers take turns anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"{channel}:{chat}".encode(), digest_size=8).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def open_in_chat(session: Session, channel: str, chat: str) -> Ticket | None:
    """The chat's most recently active ticket that is not closed, following merges."""
    ticket = session.execute(
        select(Ticket)
        .join(KnownAddress, KnownAddress.ticket_id == Ticket.id)
        .where(
            KnownAddress.channel == channel,
            KnownAddress.address == chat_address(chat).lower(),
            Ticket.status != TicketStatus.CLOSED,
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if ticket is None:
        return None
    ticket = follow_merges(session, ticket)
    return None if ticket.status == TicketStatus.CLOSED else ticket


def recent_same_subject(
    session: Session, contact_id: int, subject: str, *, since: datetime
) -> Ticket | None:
    """The sender's most recently active, not closed ticket with the same normalized subject."""
    wanted = normalize_subject(subject)
    if not wanted:
        return None
    candidates = session.execute(
        select(Ticket)
        .join(Participant, Participant.ticket_id == Ticket.id)
        .where(
            Participant.contact_id == contact_id,
            Ticket.status != TicketStatus.CLOSED,
            Ticket.updated_at >= since,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.updated_at.desc())
        .limit(50)
    ).scalars()
    for ticket in candidates:
        if normalize_subject(ticket.subject) == wanted:
            return ticket
    return None


def age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "some time ago"
    delta = now - then
    if delta < timedelta(hours=1):
        return f"{max(1, int(delta.total_seconds() // 60))} min ago"
    if delta < timedelta(days=2):
        return f"{int(delta.total_seconds() // 3600)} h ago"
    return f"{delta.days} days ago"
