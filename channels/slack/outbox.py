"""Outbox rows for Slack, written inside the transaction of the change that caused them.

Every Slack Web API call Switchboard makes (except opening a modal, whose trigger
expires in 3 seconds) is one of these rows, delivered by ``SlackSender`` through
the workers. Content is rendered from the database when the row is sent, so a
late or retried row never paints an old state over a newer one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core import outbox
from core.context import Context
from core.models import OutboxDelivery
from core.values import Outbound

CHANNEL = "slack"
CARD, THREAD, UPDATE, EPHEMERAL, HOME = (
    "slack_card",
    "slack_thread",
    "slack_update",
    "slack_ephemeral",
    "slack_home",
)
SLACK_KINDS = frozenset({CARD, THREAD, UPDATE, EPHEMERAL, HOME})

# The key of the thread line posted for a message, by the line's kind (a line is found
# again by it: an Undo, an erasure); an event line's key starts with ``event_keys``.
LINE_KEYS = {"client_message": "slack:msg:", "note": "slack:note:", "reply": "slack:reply:"}


def line_key(line: str, message_id: int) -> str:
    return f"{LINE_KEYS[line]}{message_id}"


def event_keys(ticket_id: int) -> str:
    return f"slack:event:{ticket_id}:"


def _queue(
    ctx: Context,
    session: Session,
    *,
    kind: str,
    key: str,
    recipient: str,
    ticket_id: int | None,
    text: str = "",
    not_before: datetime | None = None,
    **extras: Any,
) -> OutboxDelivery:
    out = Outbound(
        key=key, channel=CHANNEL, recipient=recipient, kind=kind, text=text, extras=extras
    )
    return outbox.queue(ctx, session, out, ticket_id=ticket_id, not_before=not_before)


def card(
    ctx: Context, session: Session, ticket_id: int, channel: str, not_before: datetime | None = None
) -> OutboxDelivery:
    """Post the ticket's card, or update it in place if it is already there."""
    return _queue(
        ctx,
        session,
        kind=CARD,
        key=f"slack:card:{ticket_id}:{uuid.uuid4().hex[:12]}",
        recipient=channel,
        ticket_id=ticket_id,
        not_before=not_before,
        ticket=ticket_id,
    )


def thread(
    ctx: Context, session: Session, ticket_id: int, key: str, line: str, **extras: Any
) -> OutboxDelivery:
    """A line in the card's thread: ``client_message``, ``note``, ``reply`` or ``event``."""
    return _queue(
        ctx,
        session,
        kind=THREAD,
        key=key,
        recipient="card",
        ticket_id=ticket_id,
        ticket=ticket_id,
        line=line,
        **extras,
    )


def update(
    ctx: Context,
    session: Session,
    ticket_id: int,
    key: str,
    post_key: str,
    line: str,
    not_before: datetime | None = None,
    **extras: Any,
) -> OutboxDelivery:
    """Re-render the thread line posted for ``post_key`` (e.g. a reply's Undo window ended)."""
    return _queue(
        ctx,
        session,
        kind=UPDATE,
        key=key,
        recipient="card",
        ticket_id=ticket_id,
        not_before=not_before,
        ticket=ticket_id,
        post_key=post_key,
        line=line,
        **extras,
    )


def ephemeral(
    ctx: Context,
    session: Session,
    channel: str,
    user: str,
    text: str,
    *,
    ticket_id: int | None = None,
    thread_ts: str | None = None,
) -> OutboxDelivery:
    """A message only ``user`` sees (a refusal, a tracking link)."""
    return _queue(
        ctx,
        session,
        kind=EPHEMERAL,
        key=f"slack:eph:{uuid.uuid4().hex}",
        recipient=channel,
        ticket_id=ticket_id,
        text=text,
        user=user,
        thread_ts=thread_ts,
    )


def home(ctx: Context, session: Session, user: str) -> OutboxDelivery:
    """Publish ``user``'s App Home tab as it is now."""
    return _queue(
        ctx,
        session,
        kind=HOME,
        key=f"slack:home:{user}:{uuid.uuid4().hex[:12]}",
        recipient=user,
        ticket_id=None,
        user=user,
    )
