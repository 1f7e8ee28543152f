"""Intake rules: small named checks, listed as data, that decide an inbound's fate.

Each rule looks at the ``Inbound`` and returns a ``Decision`` or None (no opinion).
The chain stops at the first decision; every rule that decided or noted something
is recorded on the inbound record, so the audit can explain the outcome.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

import core.intake.conversation as conversation
import core.intake.deliveryreports as deliveryreports
from core import contacts
from core.contacts import codes
from core.context import Context
from core.models import Message, OutboxDelivery, Ticket, TicketStatus
from core.tickets.lookup import follow_merges
from core.tokens import parse_reply_token
from core.values import DeliveryReport, Inbound

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
    outbox_id: int | None = None  # the delivery a bounce or delay notice reports on


class Rule(Protocol):
    name: str
    description: str

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None: ...


def thread_decision(
    session: Session, inbound: Inbound, targets: Sequence[Ticket], rule: str, *, evidence: str
) -> Decision:
    """A message points at ``targets`` (most direct first): join the one that knows the sender.

    A referenced ticket where the sender takes part (or was in To/Cc of its
    conversation) wins; else a ticket of their family that knows the sender. A
    stranger gets a new ticket linked to the first target; so does mail to a
    closed ticket.
    """
    ordered = list(dict.fromkeys(follow_merges(session, t) for t in targets))
    first = ordered[0]
    identity = contacts.find_identity(session, inbound.channel, inbound.sender)
    contact_id = identity.contact_id if identity is not None else None

    def known(ticket: Ticket) -> bool:
        return conversation.knows(session, ticket, inbound.channel, inbound.sender, contact_id)

    chosen = next((t for t in ordered if known(t)), None)
    via = ""
    if chosen is None:
        chosen = next((t for t in conversation.family(session, ordered) if known(t)), None)
        via = f", whose linked ticket {chosen.number} knows the sender" if chosen else ""
    if chosen is None:
        return Decision(
            OPEN,
            rule,
            f"{evidence} points at {first.number}, but the sender is not a participant",
            linked_from=first.id,
        )
    if chosen.status == TicketStatus.CLOSED:
        return Decision(
            OPEN,
            rule,
            f"{evidence} points at {chosen.number}, which is closed",
            linked_from=chosen.id,
        )
    return Decision(APPEND, rule, f"{evidence} points at {first.number}{via}", ticket_id=chosen.id)


def named_ticket(
    session: Session, inbound: Inbound, ticket_id: int | None, rule: str, *, evidence: str
) -> Decision | None:
    """``thread_decision`` for the one ticket a token or a tag names; None when it names none."""
    ticket = session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        return None
    return thread_decision(session, inbound, [ticket], rule, evidence=evidence)


def continue_ticket(ctx: Context, rule: str, ticket: Ticket, why: str) -> Decision:
    """Append to ``ticket``, which ``why`` names, saying when it was last active."""
    return Decision(
        APPEND,
        rule,
        f"{why} (last activity {conversation.age(ctx.now(), ticket.updated_at)})",
        ticket_id=ticket.id,
    )


class BounceRule:
    name = "bounce"
    description = (
        "A bounce or delay notice: park it, and name the delivery it reports on "
        "(applied by intake: the delivery keeps who failed; a permanent failure marks the address)."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        report = inbound.report
        if report is None and not inbound.bounce_for:
            return None
        if report is None:  # a neutral payload that names the delivery only
            report = DeliveryReport("bounce", about=inbound.bounce_for)
        what = {"bounce": "bounce", "delay": "delay warning"}.get(report.kind, "delivery notice")
        if report.kind not in ("bounce", "delay"):
            return Decision(PARK, self.name, f"{what} ({report.kind}): nothing failed")
        row = deliveryreports.find_delivery(session, report, inbound.channel, ctx.now())
        failed = ", ".join(
            f"{f.address} ({'permanent' if f.permanent else 'temporary'})" for f in report.failed
        )
        if row is None:
            return Decision(
                PARK,
                self.name,
                f"{what} for a message we cannot find" + (f": {failed}" if failed else ""),
            )
        return Decision(
            PARK,
            self.name,
            f"{what} for outbox row {row.id}",
            ticket_id=row.ticket_id,
            outbox_id=row.id,
        )


class AutomaticRule:
    name = "automatic"
    description = "Auto-replies, lists and other automatic mail never open tickets or get answers."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if inbound.automatic:
            return Decision(PARK, self.name, f"automatic message: {inbound.automatic}")
        return None


class MachineSpeedRule:
    name = conversation.MACHINE_SPEED
    description = (
        "A sender who answers our automatic messages within seconds, twice in a row, is "
        "a machine (an autoresponder without Auto-Submitted or threading headers): kept "
        "for a human, never answered. The first such answer is a ticket without an "
        "acknowledgement, so a loop stops at once and a person's quick follow-up is kept."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        seconds = conversation.answered_automatic_within(ctx, session, inbound)
        if seconds is None or not conversation.previous_was_machine_speed(session, inbound):
            return None
        return Decision(
            PARK,
            self.name,
            f"answered our automatic message within {seconds:.0f} s, as its previous message "
            "did: an autoresponder",
        )


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
        return named_ticket(session, inbound, ticket_id, self.name, evidence="reply token")


class ReferencesRule:
    name = "references"
    description = (
        "The message answers ones we stored or sent (In-Reply-To, every id in References, "
        "reply-to ids): the ticket of those that knows the sender, or of their family."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        refs = list(dict.fromkeys(r for r in inbound.references if r))[:100]
        if not refs:
            return None
        found: dict[str | None, int | None] = {}
        stored = session.execute(
            select(Message.external_id, Message.ticket_id).where(Message.external_id.in_(refs))
        ).all()
        sent = session.execute(
            select(OutboxDelivery.external_id, OutboxDelivery.ticket_id).where(
                OutboxDelivery.external_id.in_(refs), OutboxDelivery.ticket_id.is_not(None)
            )
        ).all()
        for external_id, ticket_id in [*stored, *sent]:
            found.setdefault(external_id, ticket_id)
        ticket_ids = list(dict.fromkeys(t for r in refs if (t := found.get(r)) is not None))
        if not ticket_ids:
            return None
        tickets = {
            t.id: t
            for t in session.execute(select(Ticket).where(Ticket.id.in_(ticket_ids))).scalars()
        }
        targets = [tickets[i] for i in ticket_ids if i in tickets]
        evidence = "a referenced message" if len(refs) == 1 else "its References"
        return thread_decision(session, inbound, targets, self.name, evidence=evidence)


class SubjectTagRule:
    name = "subject_tag"
    description = "A [#T-000123] tag in the subject, only when the sender already takes part."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        match = TAG_RE.search(inbound.subject or "")
        if not match:
            return None
        # A tag is weak evidence (anyone can type it): strangers get a new, linked ticket.
        ticket_id = int(match.group(1))
        return named_ticket(session, inbound, ticket_id, self.name, evidence="the subject tag")


class SameSubjectRule:
    name = "same_subject"
    description = (
        "A reply with no References and no token (a mailer that strips them) answers the "
        "sender's recent ticket with the same subject."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if inbound.references or inbound.reply_token:
            return None
        if not conversation.is_reply_subject(inbound.subject):
            return None
        identity = contacts.find_identity(session, inbound.channel, inbound.sender)
        if identity is None:
            return None
        days = ctx.policy.reply_by_subject_days
        ticket = conversation.recent_same_subject(
            session, identity.contact_id, inbound.subject, since=ctx.now() - timedelta(days=days)
        )
        if ticket is None:
            return None
        return continue_ticket(
            ctx,
            self.name,
            ticket,
            f"no References or token; same sender and subject as {ticket.number}",
        )


class ChatRule:
    name = "chat"
    description = (
        "A message in a chat (a Telegram chat, a WhatsApp number: no thread ids) continues "
        "the chat's most recently active ticket that is not closed, unless the client "
        "asked for a new one (/new)."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        if not inbound.chat or inbound.new_ticket:
            return None
        conversation.lock_chat(session, inbound.channel, inbound.chat)
        ticket = conversation.open_in_chat(session, inbound.channel, inbound.chat)
        if ticket is None:
            return None
        return continue_ticket(ctx, self.name, ticket, f"the chat's open ticket {ticket.number}")


class OperatorRule:
    name = "operator"
    description = (
        "An operator's intake rule (policy file, [[intake_rules]]) that parks matching mail."
    )

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        rule = ctx.policy.intake_rule_for(inbound)
        if rule is None or rule.action != "park":
            return None
        return Decision(PARK, f"operator:{rule.name}", f"operator rule '{rule.name}': park")


class NewTicketRule:
    name = "new_ticket"
    description = "Nothing points at an existing ticket: open a new one."

    def check(self, ctx: Context, session: Session, inbound: Inbound) -> Decision | None:
        return Decision(OPEN, self.name, "no thread evidence")


DEFAULT_CHAIN: tuple[Rule, ...] = (
    BounceRule(),
    AutomaticRule(),
    MachineSpeedRule(),
    EmptyRule(),
    OperatorRule(),
    LinkCodeRule(),
    ReplyTokenRule(),
    ReferencesRule(),
    SubjectTagRule(),
    ChatRule(),
    SameSubjectRule(),
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
