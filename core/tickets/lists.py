"""Read models every face shares: the client's public thread, an agent's open
tickets, the tickets needing attention, as database queries.

"Internal notes never leave" is enforced here, once: the tracking page, the
portal and every channel read a ticket's conversation for a client through
``public_thread`` and ``public_file``, which only ever select public messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Attachment, Message, Ticket
from core.tickets.lifecycle import OPEN_STATES

PUBLIC = "public"


def ticket_by_tracking_token(session: Session, token: str, *, lock: bool = False) -> Ticket | None:
    """The ticket whose tracking nonce this is (nonces are long: a short one names
    nothing); ``lock``: for update."""
    if len(token) < 16:
        return None
    query = select(Ticket).where(Ticket.tracking_token == token)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


@dataclass(frozen=True)
class PublicLine:
    """One public message as plain values (what a client's page shows), with its files
    as (id, name)."""

    id: int
    direction: str
    author_agent_id: int | None
    author_contact_id: int | None
    created_at: datetime
    text: str
    files: tuple[tuple[int, str], ...]


MERGE_DEPTH = 20  # tickets merged into tickets merged into ... followed this deep


def merged_family(session: Session, ticket_id: int) -> list[int]:
    """The ticket and every ticket merged into it (and into those, and so on): whose
    messages its thread shows. One indexed statement per level of merging (none
    when nothing was merged into it)."""
    family = [ticket_id]
    frontier = [ticket_id]
    for _ in range(MERGE_DEPTH):
        frontier = [
            found
            for found in session.execute(
                select(Ticket.id).where(Ticket.merged_into_id.in_(frontier))
            ).scalars()
            if found not in family
        ]
        if not frontier:
            break
        family.extend(frontier)
    return family


def public_thread(session: Session, ticket_id: int) -> list[PublicLine]:
    """The conversation a client may see, oldest first, each message with its files,
    the tickets merged into this one included: plain rows in two statements (no
    message objects loaded: the tracking page of a long conversation reads this)."""
    family = merged_family(session, ticket_id)
    rows = session.execute(
        select(
            Message.id,
            Message.direction,
            Message.author_agent_id,
            Message.author_contact_id,
            Message.created_at,
            Message.body_text,
        )
        .where(Message.ticket_id.in_(family), Message.kind == PUBLIC)
        .order_by(Message.created_at, Message.id)
    ).all()
    files: dict[int, list[tuple[int, str]]] = {}
    if rows:
        for file_id, message_id, name in session.execute(
            select(Attachment.id, Attachment.message_id, Attachment.filename)
            .join(Message, Message.id == Attachment.message_id)
            .where(Message.ticket_id.in_(family), Message.kind == PUBLIC)
            .order_by(Attachment.id)
        ).all():
            files.setdefault(message_id, []).append((file_id, name))
    return [PublicLine(*row, files=tuple(files.get(row[0], ()))) for row in rows]


def public_file(session: Session, token: str, attachment_id: int) -> Attachment | None:
    """A file of the public conversation of the ticket whose nonce ``token`` is (the
    tickets merged into it included), or None."""
    ticket = ticket_by_tracking_token(session, token)
    if ticket is None:
        return None
    return session.execute(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .where(
            Attachment.id == attachment_id,
            Message.kind == PUBLIC,
            Message.ticket_id.in_(merged_family(session, ticket.id)),
        )
    ).scalar_one_or_none()


def open_for_agent(session: Session, agent_id: int, limit: int = 50) -> list[Ticket]:
    """An agent's open tickets, newest first."""
    return list(
        session.execute(
            select(Ticket)
            .where(Ticket.assignee_id == agent_id, Ticket.status.in_(OPEN_STATES))
            .order_by(Ticket.id.desc())
            .limit(limit)
        ).scalars()
    )


def needing_attention(session: Session, now: datetime, limit: int = 50) -> list[Ticket]:
    """Open tickets whose SLA is at risk or breached at ``now``, the longest-standing first
    (an indexed query on ``sla_attention_at``, kept by ``core.sla.ticket.refresh``)."""
    return list(
        session.execute(
            select(Ticket)
            .where(
                Ticket.sla_attention_at.is_not(None),
                Ticket.sla_attention_at <= now,
                Ticket.status.in_(OPEN_STATES),
            )
            .order_by(Ticket.sla_attention_at, Ticket.id)
            .limit(limit)
        ).scalars()
    )
