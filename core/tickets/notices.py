"""Messages to a ticket's client: rendered from a template on their channel, queued
in the outbox with the change that caused them.

A notice's outbox key is its idempotency key (and, for email, its Message-ID):
one per message it delivers (``reply:MESSAGE``), else one per ticket
(``ack:TICKET``, ``escalated:TICKET``), with a serial where a ticket can earn the
same notice again (``resolved:TICKET:N``, the Nth resolution; ``assigned``,
``on_hold``, ``reopened`` and ``tracking_link`` the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core import audit, contacts, outbox
from core.context import Context
from core.models import Message, OutboxDelivery, Ticket
from core.rendering import humanize_minutes
from core.tickets import files
from core.tickets.client import priority_words


@dataclass(frozen=True)
class Notice:
    """What to tell the client.

    Parameters:
      kind: the template and the outbox kind (ack, reply, resolved, escalated).
      automatic: sent by Switchboard itself (capped per recipient, never answers a robot).
      fields: template fields besides the ticket's own (``template_fields``).
      delivers_entry: the notice carries the message the change added (a public reply).
      serial: tells apart the same notice earned again on one ticket.
      not_before: when it may leave (an Undo window).
      references: the ids of the thread so far, when the caller already knows them.
      unsent: the audit action recorded when the client cannot be reached.
      extras: what the outbound carries besides its text, for the sender (``buttons``:
        ``(id, title)`` pairs a chat channel can show; see ``core.satisfaction``).
    """

    kind: str
    automatic: bool = True
    fields: dict[str, Any] = field(default_factory=dict)
    delivers_entry: bool = False
    serial: int | None = None
    not_before: datetime | None = None
    references: tuple[str, ...] | None = None
    unsent: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def key(self, ticket: Ticket, message: Message | None) -> str:
        if message is not None:
            return f"{self.kind}:{message.id}"
        serial = f":{self.serial}" if self.serial is not None else ""
        return f"{self.kind}:{ticket.id}{serial}"


def response_words(ctx: Context, priority: str) -> str:
    """The first answer a priority is promised, in words ("4 hours (business hours)"),
    from the policy's default targets; empty when it promises none."""
    target = ctx.policy.sla.get(priority)
    if not target or not target.response_minutes:
        return ""
    response = humanize_minutes(target.response_minutes)
    return response if target.hours == "24x7" else response + " (business hours)"


def template_fields(ctx: Context, ticket: Ticket, **more: Any) -> dict[str, Any]:
    """What every client template may use: number, subject, priority (its code, and
    ``priority_words`` for the client), name, tracking link and the response promise."""
    contact = ticket.contact
    response = response_words(ctx, ticket.priority)
    return {
        "ticket_number": ticket.number,
        "subject": ticket.subject,
        "priority": ticket.priority,
        "priority_words": priority_words(ticket.priority),
        "client_name": contact.name if contact else "",
        "tracking_link": ctx.tracking_link(ticket.tracking_token),
        "response_target": response,
        **more,
    }


def tell(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    notice: Notice,
    *,
    actor: str,
    message: Message | None = None,
    flush: bool = True,
) -> OutboxDelivery | None:
    """Queue ``notice`` to the client on the channel they last used (``contacts.reply_to``).

    Returns None when nobody could be reached (no address, or the cap on automatic
    messages); with ``notice.unsent``, that is audited under that action.
    """
    channel = contacts.reply_channel(ctx, session, ticket)
    rendered = ctx.renderer.render(
        notice.kind, channel, **template_fields(ctx, ticket, **notice.fields)
    )
    extras = dict(notice.extras)
    if message is not None and message.kind == "public":  # a public reply: its files
        attached = files.listed(session, message.id)
        if attached:
            extras[files.FILES] = attached
    row = outbox.to_client(
        ctx,
        session,
        ticket,
        kind=notice.kind,
        rendered=rendered,
        message=message,
        automatic=notice.automatic,
        key=notice.key(ticket, message),
        not_before=notice.not_before,
        extras=extras or None,
        thread=(
            None
            if notice.references is None
            else {"references": list(notice.references), "ticket_id": ticket.id}
        ),
        flush=flush,
    )
    if row is None and notice.unsent:
        data: dict[str, Any] = {"message": message.id} if message is not None else {}
        audit.record(
            session,
            actor=actor,
            action=notice.unsent,
            ticket_id=ticket.id,
            data={**data, "why": "the ticket has no client address"},
            now=ctx.now(),
        )
    return row
