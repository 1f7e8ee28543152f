"""Intake rules: small named checks, listed as data, that decide an inbound's fate.

Each rule looks at the ``Inbound`` and returns a ``Decision`` or None (no opinion).
The chain stops at the first decision; every rule that decided or noted something
is recorded on the inbound record, so the audit can explain the outcome.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import contacts
from core.contacts import codes
from core.context import Context
from core.models import Message, OutboxDelivery, Participant, Ticket
from core.tickets.lifecycle import CLOSED
from core.tokens import parse_reply_token
from core.values import Inbound

DROP, PARK, APPEND, OPEN, LINK = "drop", "park", "append", "open", "link"
TAG_RE = re.compile(r"\[#T-?(\d{1,12})\]", re.IGNORECASE)


@dataclass
class Decision:
    outcome: str
    rule: str
    reason: str = ""
    ticket_id: int | None = None
    linked_from: int | None = None
    notes: list[str] = field(default_factory=list)


class Rule(Protocol):
    name: str
    description: str

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None: ...


def _follow_merges(session: Session, ticket: Ticket) -> Ticket:
    seen = set()
    while ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        nxt = session.get(Ticket, ticket.merged_into_id)
        if nxt is None:
            break
        ticket = nxt
    return ticket


def thread_decision(
    session: Session, inbound: Inbound, ticket: Ticket, rule: str, *, evidence: str
) -> Decision:
    """A message points at ``ticket``: join it, unless the sender is a stranger or it is closed."""
    ticket = _follow_merges(session, ticket)
    identity = contacts.find_identity(session, inbound.channel, inbound.sender)
    participant = (
        identity is not None
        and session.execute(
            select(Participant.id).where(
                Participant.ticket_id == ticket.id, Participant.contact_id == identity.contact_id
            )
        ).first()
        is not None
    )
    if not participant:
        return Decision(
            OPEN,
            rule,
            f"{evidence} points at {ticket.number}, but the sender is not a participant",
            linked_from=ticket.id,
        )
    if ticket.status == CLOSED:
        return Decision(
            OPEN,
            rule,
            f"{evidence} points at {ticket.number}, which is closed",
            linked_from=ticket.id,
        )
    return Decision(APPEND, rule, f"{evidence} points at {ticket.number}", ticket_id=ticket.id)


class BounceRule:
    name = "bounce"
    description = (
        "A delivery report about one of our messages: mark that delivery bounced, keep the report."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if not inbound.bounce_for:
            return None
        row = session.execute(
            select(OutboxDelivery).where(
                or_(
                    OutboxDelivery.external_id == inbound.bounce_for,
                    OutboxDelivery.key == inbound.bounce_for,
                )
            )
        ).scalar_one_or_none()
        if row is not None:
            row.status = "bounced"
            row.last_error = (inbound.text or "bounced")[:2000]
            return Decision(
                PARK,
                self.name,
                f"delivery report for outbox row {row.id}: marked bounced",
                ticket_id=row.ticket_id,
            )
        return Decision(PARK, self.name, "delivery report for a message we cannot find")


class AutomaticRule:
    name = "automatic"
    description = "Auto-replies, lists and other automatic mail never open tickets or get answers."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if inbound.automatic:
            return Decision(PARK, self.name, f"automatic message: {inbound.automatic}")
        return None


class EmptyRule:
    name = "empty"
    description = "A message with no text and no attachments is kept for a human."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if (
            not (inbound.text or "").strip()
            and not inbound.attachments
            and not (inbound.html or "").strip()
        ):
            return Decision(PARK, self.name, "empty message: no text and no attachments")
        return None


class LinkCodeRule:
    name = "link_code"
    description = (
        "Only a code, from an address we sent a link code to: the client answering it "
        "(core.contacts.codes), not a ticket message."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if codes.is_answer(ctx, session, inbound):
            return Decision(LINK, self.name, "a link code sent back")
        return None


class ReplyTokenRule:
    name = "reply_token"
    description = "A signed reply token we gave the client names the ticket."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if not inbound.reply_token:
            return None
        ticket_id = parse_reply_token(ctx.secret, inbound.reply_token)
        ticket = session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is None:
            return None
        return thread_decision(session, inbound, ticket, self.name, evidence="reply token")


class ReferencesRule:
    name = "references"
    description = (
        "The message answers one we stored or sent (In-Reply-To, References, reply-to ids)."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        refs = [r for r in inbound.references if r][:50]
        if not refs:
            return None
        ticket_id = session.execute(
            select(Message.ticket_id)
            .where(Message.external_id.in_(refs))
            .order_by(Message.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if ticket_id is None:
            ticket_id = session.execute(
                select(OutboxDelivery.ticket_id)
                .where(OutboxDelivery.external_id.in_(refs), OutboxDelivery.ticket_id.is_not(None))
                .order_by(OutboxDelivery.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if ticket_id is None:
            return None
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return thread_decision(session, inbound, ticket, self.name, evidence="a referenced message")


class SubjectTagRule:
    name = "subject_tag"
    description = "A [#T-000123] tag in the subject, only when the sender already takes part."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        match = TAG_RE.search(inbound.subject or "")
        if not match:
            return None
        ticket = session.get(Ticket, int(match.group(1)))
        if ticket is None:
            return None
        # A tag is weak evidence (anyone can type it): strangers get a new, linked ticket.
        return thread_decision(session, inbound, ticket, self.name, evidence="the subject tag")


class NewTicketRule:
    name = "new_ticket"
    description = "Nothing points at an existing ticket: open a new one."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        return Decision(OPEN, self.name, "no thread evidence")


DEFAULT_CHAIN: tuple[Rule, ...] = (
    BounceRule(),
    AutomaticRule(),
    EmptyRule(),
    LinkCodeRule(),
    ReplyTokenRule(),
    ReferencesRule(),
    SubjectTagRule(),
    NewTicketRule(),
)


def decide(
    ctx: Context, session: Session, inbound: Inbound, chain: Sequence[Rule] = DEFAULT_CHAIN
) -> Decision:
    for rule in chain:
        decision = rule.check(ctx, session, inbound)
        if decision is not None:
            return decision
    return Decision(PARK, "no_rule", "no rule decided")
