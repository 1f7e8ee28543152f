"""The ticket card and its thread follow every change: an observer on ``ctx.observers``.

Called inside the transaction of every ticket change (``core.events.Change``),
it writes Slack outbox rows: the card (posted once, then updated in place), and
a thread line for each client message, public reply, internal note or event.
After an erasure of the client's personal data (``core.privacy``), every line
already posted in the thread is drawn again from the erased rows.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from channels.slack import outbox as slack_outbox
from channels.slack import pings
from channels.slack.models import SlackCard, SlackPost
from core.context import Context
from core.events import PERSONAL_DATA_ERASED, Change
from core.models import DeliveryStatus, Message, OutboxDelivery, Ticket

log = logging.getLogger(__name__)

EVENT_WORDS = {
    "acknowledge": "acknowledged the ticket",
    "assign": "assigned it",
    "start": "started work",
    "hold": "put it on hold",
    "resume": "resumed it",
    "resolve": "resolved it",
    "clear": "saw the alert clear and resolved it",
    "close": "closed it",
    "reopen": "reopened it",
    "set_priority": "changed the priority",
    "set_category": "changed the category",
    "set_queue": "moved it to another queue",
    "link": "linked it",
    "merge": "merged it",
    "escalate": "escalated it",
    "escalation_acknowledged": "acknowledged the escalation",
    "contacts_linked": "linked the client with another contact",
    "contact_split": "split an address off the client",
    PERSONAL_DATA_ERASED: "erased the client's personal data",
}


def card_channel(session: Session, ticket: Ticket, default_channel: str) -> str | None:
    """Where the ticket's card lives: where it was posted, else its queue's channel, else the default."""
    existing = session.get(SlackCard, ticket.id)
    if existing is not None:
        return existing.channel
    if ticket.queue is not None and ticket.queue.slack_channel:
        return ticket.queue.slack_channel
    return default_channel or None


def _who(change: Change) -> str:
    return change.who.name or change.who.label


def event_text(change: Change) -> str:
    words = EVENT_WORDS.get(change.action, change.action.replace("_", " "))
    data: dict[str, Any] = change.fields
    detail = ""
    if change.action == "assign":
        detail = f" to {data.get('assignee_name', '')}"
    elif change.action == "set_priority":
        detail = f" from {data.get('from_priority')} to {data.get('priority')}: {data.get('reason') or ''}".rstrip(
            ": "
        )
    elif change.action == "hold":
        detail = f" ({str(data.get('reason', '')).replace('_', ' ')})"
    elif change.action in ("resolve", "clear", "close") and data.get("code"):
        detail = f" ({data['code']})"
    elif change.action in ("escalate", "reopen") and data.get("reason"):
        detail = f": {data['reason']}"
    elif change.action in ("contacts_linked", "contact_split"):
        detail = f" ({', '.join(data.get('identities', []))})"
    elif change.action == "link":
        detail = ": " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in data.items() if k not in ("from", "to") and v
        )
    text = f"{_who(change)} {words}{detail}"
    if "override" in data:
        text += f" · lead override: {data['override']['reason']}"
    return text


CARD_DEBOUNCE = timedelta(seconds=0.3)


class CardObserver:
    """Registered on ``ctx.observers`` when Slack is configured."""

    def __init__(self, default_channel: str) -> None:
        self.default_channel = default_channel
        self.work: Any = None  # the context's SlackWork, set by ``channels.slack.install``

    @staticmethod
    def _coalesced(session: Session, ticket_id: int) -> bool:
        """True when a card update for this ticket is still waiting: it will show this change too.

        The waiting row is locked (a no-op UPDATE) until this change commits, so the
        worker cannot claim and render it in between (SQLite serializes writers anyway).
        Cards are rendered from the database when sent, so one update covers many
        changes, and busy tickets stay within Slack's chat.update rate limit.
        """
        waiting = session.execute(
            select(OutboxDelivery.id)
            .where(
                OutboxDelivery.ticket_id == ticket_id,
                OutboxDelivery.kind == slack_outbox.CARD,
                OutboxDelivery.status == DeliveryStatus.PENDING,
            )
            .order_by(OutboxDelivery.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if waiting is None:
            return False
        locked = session.execute(
            update(OutboxDelivery)
            .where(OutboxDelivery.id == waiting, OutboxDelivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.PENDING)
            .execution_options(synchronize_session=False)
        )
        return bool(locked.rowcount == 1)  # type: ignore[attr-defined]

    def __call__(self, ctx: Context, session: Session, change: Change) -> None:
        ticket = change.ticket
        channel = card_channel(session, ticket, self.default_channel)
        if channel is None:
            log.debug("no Slack channel for %s: no card", ticket.number)
            return
        if not self._coalesced(session, ticket.id):
            slack_outbox.card(
                ctx, session, ticket.id, channel, not_before=ctx.now() + CARD_DEBOUNCE
            )
        if change.action == "escalation_acknowledged":
            pings.update_all(ctx, session, ticket.id)
        if change.action == PERSONAL_DATA_ERASED:
            redraw_thread(ctx, session, ticket.id, int(change.fields["erasure"]))
            pings.update_all(ctx, session, ticket.id)
        mid = change.message_id
        if change.action in ("open", "client_reply") and mid:
            slack_outbox.thread(
                ctx,
                session,
                ticket.id,
                slack_outbox.line_key("client_message", mid),
                "client_message",
                message=mid,
            )
        elif change.action == "note" and mid:
            key = slack_outbox.line_key("note", mid)
            slack_outbox.thread(ctx, session, ticket.id, key, "note", message=mid)
        elif change.action == "reply" and mid:
            delay = float(change.fields.get("delay_seconds") or 0)
            post_key = slack_outbox.line_key("reply", mid)
            slack_outbox.thread(
                ctx, session, ticket.id, post_key, "reply", message=mid, undo_seconds=delay
            )
            if delay:
                # When the Undo window ends, the line shows what happened (sent, or undone).
                slack_outbox.update(
                    ctx,
                    session,
                    ticket.id,
                    f"slack:reply-window:{mid}",
                    post_key,
                    "reply",
                    not_before=ctx.now() + timedelta(seconds=delay + 1),
                    message=mid,
                )
        elif change.action != "client_reply":
            key = f"{slack_outbox.event_keys(ticket.id)}{change.action}:{uuid.uuid4().hex}"
            slack_outbox.thread(ctx, session, ticket.id, key, "event", text=event_text(change))


def redraw_thread(ctx: Context, session: Session, ticket_id: int, erasure: int) -> None:
    """After an erasure: each line posted in the ticket's thread is updated in place.
    Client messages, notes and replies are drawn again from their (erased) messages;
    an event line, whose words were written when it was posted and may name the client
    (the addresses of a link, a reason), keeps only what happened."""
    message_ids = session.execute(
        select(Message.id).where(Message.ticket_id == ticket_id)
    ).scalars()
    from_messages = {
        slack_outbox.line_key(line, mid): (line, mid)
        for mid in message_ids
        for line in slack_outbox.LINE_KEYS
    }
    events = slack_outbox.event_keys(ticket_id)
    posted = session.execute(
        select(SlackPost.key)
        .where(
            or_(SlackPost.key.in_(list(from_messages)), SlackPost.key.startswith(events)),
            SlackPost.ts.is_not(None),
        )
        .order_by(SlackPost.created_at)
    ).scalars()
    for post_key in posted:
        key = f"slack:erased:{erasure}:{post_key}"
        if post_key in from_messages:
            line, mid = from_messages[post_key]
            slack_outbox.update(ctx, session, ticket_id, key, post_key, line, message=mid)
        else:
            action = post_key.removeprefix(events).split(":", 1)[0]
            words = EVENT_WORDS.get(action, action.replace("_", " "))
            text = f"{words.capitalize()} (details removed with the client's personal data)"
            slack_outbox.update(ctx, session, ticket_id, key, post_key, "event", text=text)
