"""Escalation pings in Telegram, once acknowledged anywhere (this chat's button, Slack,
the email link, the API): each ping already in a chat is edited to say who
acknowledged it, and loses its button.

The observer hears every ticket change; on ``escalation_acknowledged`` it writes one
outbox row per ping this channel sent for the ticket (kind ``ping_acknowledged``,
the ping's message id in ``extras``), in the acknowledgement's transaction; the
sender edits the message (editMessageText, without a keyboard). Pings not sent yet
were cancelled by the acknowledgement itself (``core.escalation.acknowledging``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import outbox
from core.context import Context
from core.escalation import chain as escalation
from core.events import Change
from core.models import DeliveryStatus, OutboxDelivery
from core.values import Outbound

NAME = "telegram"
ACKNOWLEDGED = "ping_acknowledged"


def observe(ctx: Context, session: Session, change: Change) -> None:
    if change.action != "escalation_acknowledged":
        return
    sent = session.execute(
        select(OutboxDelivery).where(
            OutboxDelivery.ticket_id == change.ticket.id,
            OutboxDelivery.kind == escalation.KIND,
            OutboxDelivery.channel == NAME,
            OutboxDelivery.status == DeliveryStatus.SENT,
        )
    ).scalars()
    who = change.who.name or change.who.label
    for ping in sent:
        first = (ping.external_id or "").split(",")[0]
        if not first.isdigit():
            continue
        text = str((ping.payload or {}).get("text") or "").strip()
        out = Outbound(
            key=f"telegram:acknowledged:{ping.id}",
            channel=NAME,
            recipient=ping.recipient,
            kind=ACKNOWLEDGED,
            text=f"{text}\n\nAcknowledged by {who}: the escalation is stopped.",
            ticket_number=change.ticket.number,
            extras={"message_id": int(first)},
        )
        outbox.queue(ctx, session, out, ticket_id=change.ticket.id, flush=False)
