"""What the WhatsApp channel does with its stored items before (or instead of) the rules.

- every client message moves the number's customer-service window (``WhatsAppChat``),
  then goes to the intake rules like any message (``handle`` returns None);
- a reaction is noted on the ticket of the message it reacts to (an internal note:
  it is not a message that needs an answer);
- a status (sent, delivered, read, failed) is recorded on the delivery it reports on,
  found by its wamid (``WhatsAppSend``): the strongest one wins, whatever the order
  they arrive in; ``failed`` marks the delivery bounced with WhatsApp's code and title;
- anything else (an account change, a webhook error) is recorded as such.

Also here: what the agent is told about a ticket's WhatsApp client (the window, the
"Send on WhatsApp" link), and the fetcher that downloads media by id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from channels.whatsapp.graph import Graph, GraphError
from channels.whatsapp.models import WhatsAppChat, WhatsAppSend
from channels.whatsapp.parse import CHANNEL, MESSAGE, OTHER, STATUS, load, media_ref, timestamp
from core import audit, outbox
from core.channel import Fetched
from core.context import Context
from core.errors import ActionRefused, NotFound, SwitchboardError, odd_shapes_refused
from core.intake import conversation
from core.models import DeliveryStatus, Identity, InboundRecord, Message, OutboxDelivery, Ticket
from core.principals import system
from core.satisfaction import answering
from core.tickets.conversation import note
from core.values import Outbound

WINDOW = timedelta(hours=24)
REENGAGEMENT = 131047  # WhatsApp: the window is closed, only a template may go
TEMPLATE = "whatsapp_template"  # Outbound.extras: send as the template, whatever the window
RANK = {"sent": 1, "delivered": 2, "read": 3}
HISTORY = 20  # statuses kept per delivery


# The customer-service window ------------------------------------------------------------


def wrote(session: Session, number: str, at: datetime, now: datetime) -> None:
    """The client wrote at ``at`` (WhatsApp's time): the window runs from the latest."""
    at = min(at, now)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(WhatsAppChat)
        .values(number=number, last_client_at=at, updated_at=now)
        .on_conflict_do_nothing()
    )
    chat = session.get(WhatsAppChat, number, with_for_update=True, populate_existing=True)
    assert chat is not None
    if chat.last_client_at < at:
        chat.last_client_at, chat.updated_at = at, now


def window_left(session: Session, number: str, now: datetime) -> timedelta:
    """How long free-form messages may still go to ``number`` (zero or less: closed)."""
    last = session.execute(
        select(WhatsAppChat.last_client_at).where(WhatsAppChat.number == number)
    ).scalar_one_or_none()
    return (last + WINDOW - now) if last is not None else timedelta(0)


def window_text(left: timedelta, template: str) -> str:
    if left > timedelta(0):
        minutes = int(left.total_seconds() // 60)
        more = f"{minutes // 60} h" if minutes >= 60 else f"{max(minutes, 1)} min"
        return f"WhatsApp window open {more} more"
    if template:
        return "WhatsApp window closed: your reply goes as a template"
    return "WhatsApp window closed: no template is configured, so a reply cannot go"


# The event handler ----------------------------------------------------------------------


def handler(ctx: Context) -> Any:
    @odd_shapes_refused("the stored WhatsApp item")
    def handle(session: Session, record: InboundRecord) -> str | None:
        kind = (record.meta or {}).get("kind", MESSAGE)
        data = load(record.raw)
        if kind == STATUS:
            return status(ctx, session, data.get("status") or {}, record.id)
        if kind == OTHER:
            errors = (data.get("value") or {}).get("errors") or []
            said = "; ".join(
                f"{e.get('code')} {e.get('title') or e.get('message')}" for e in errors
            )
            return f"WhatsApp {data.get('field') or 'webhook'} change recorded" + (
                f": {said}" if said else ": nothing to do"
            )
        message = data.get("message") or {}
        sent_at = timestamp(message)
        if message.get("from") and sent_at is not None:
            wrote(session, str(message["from"]), sent_at, ctx.now())
        if message.get("type") == "reaction":
            return reaction(ctx, session, message)
        pressed = _button_id(message)
        if pressed.startswith(answering.BUTTON_PREFIX + ":"):
            return _satisfaction(ctx, session, pressed)
        return None

    return handle


def _button_id(message: dict[str, Any]) -> str:
    """The id of the reply button or list row a client chose, or ""."""
    if message.get("type") != "interactive":
        return ""
    reply = message.get("interactive") or {}
    return str((reply.get(str(reply.get("type") or "")) or {}).get("id") or "")


def _satisfaction(ctx: Context, session: Session, pressed: str) -> str:
    """A satisfaction question's reply button: the answer is recorded (or changed)."""
    try:
        answer = answering.press(ctx, session, pressed, CHANNEL)
    except (ActionRefused, NotFound) as exc:
        return f"satisfaction answer not taken: {exc}"
    return "satisfaction answer recorded" if answer is not None else "ignored: a button press"


def _outbox_of(session: Session, wamid: str) -> OutboxDelivery | None:
    key = session.execute(
        select(WhatsAppSend.key).where(WhatsAppSend.wamid == wamid)
    ).scalar_one_or_none()
    query = select(OutboxDelivery).with_for_update()
    if key is not None:
        return session.execute(
            query.where(OutboxDelivery.key == key.split("#")[0])
        ).scalar_one_or_none()
    return (
        session.execute(
            query.where(OutboxDelivery.channel == CHANNEL, OutboxDelivery.external_id == wamid)
        )
        .scalars()
        .first()
    )


def _errors(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "code": e.get("code"),
            "title": str(e.get("title") or e.get("message") or ""),
            "details": str((e.get("error_data") or {}).get("details") or ""),
        }
        for e in status.get("errors") or []
    ]


def status(ctx: Context, session: Session, given: dict[str, Any], record_id: int) -> str:
    """Record one status on the delivery it reports on."""
    wamid, state = str(given.get("id") or ""), str(given.get("status") or "")
    row = _outbox_of(session, wamid)
    if row is None:
        return f"{state} status for a message Switchboard did not send ({wamid[:60]})"
    report = dict(row.report or {}) if (row.report or {}).get("kind") == CHANNEL else {}
    report.setdefault("kind", CHANNEL)
    history = list(report.get("history") or [])
    stamp = timestamp(given)
    entry: dict[str, Any] = {
        "status": state,
        "at": (stamp or ctx.now()).isoformat(),
        "wamid": wamid,
        "record": record_id,
    }
    errors = _errors(given)
    if errors:
        entry["errors"] = errors
    report["history"] = (history + [entry])[-HISTORY:]
    now_state = report.get("status")
    if state == "failed":
        report["status"] = "failed"
        row.status = DeliveryStatus.BOUNCED
        row.last_error = (
            "; ".join(
                f"WhatsApp error {e['code']}: {e['title']}"
                + (f" ({e['details']})" if e["details"] else "")
                for e in errors
            )
            or "WhatsApp could not deliver it"
        )
        audit.record(
            session,
            actor="system:intake",
            action="delivery_bounced",
            ticket_id=row.ticket_id,
            data={"outbox": row.id, "error": row.last_error[:500], "record": record_id},
            now=ctx.now(),
        )
    elif now_state != "failed" and RANK.get(state, 0) > RANK.get(str(now_state), 0):
        report["status"] = state
    row.report = report
    done = f"{state} for outbox row {row.id}: the delivery is {report.get('status')}"
    if state == "failed" and any(e["code"] == REENGAGEMENT for e in errors):
        done += "; " + _as_template(ctx, session, row, wamid)
    return done


def _as_template(ctx: Context, session: Session, row: OutboxDelivery, wamid: str) -> str:
    """WhatsApp refused a free-form message after all: the window is closed (whatever
    our clock said), so the message goes again as the template."""
    kind = session.execute(
        select(WhatsAppSend.kind).where(WhatsAppSend.wamid == wamid)
    ).scalar_one_or_none()
    if kind == "template":
        return "it was the template already"
    chat = session.get(WhatsAppChat, row.recipient, with_for_update=True)
    closed_at = ctx.now() - WINDOW
    if chat is not None and chat.last_client_at > closed_at:
        chat.last_client_at, chat.updated_at = closed_at, ctx.now()
    key = f"{row.key}:template"
    again = session.execute(
        select(OutboxDelivery.id).where(OutboxDelivery.key == key)
    ).scalar_one_or_none()
    if again is None:
        payload = {**row.payload, "extras": {**(row.payload.get("extras") or {}), TEMPLATE: True}}
        out = Outbound.from_row(key, row.channel, row.recipient, row.kind, payload)
        again = outbox.queue(
            ctx, session, out, ticket_id=row.ticket_id, message_id=row.message_id
        ).id
    return f"outside the window after all: sent again as the template (outbox row {again})"


def reaction(ctx: Context, session: Session, message: dict[str, Any]) -> str:
    """A reaction is noted on the ticket of the message it reacts to."""
    given = message.get("reaction") or {}
    emoji, target = str(given.get("emoji") or ""), str(given.get("message_id") or "")
    ticket_id: int | None = None
    row = _outbox_of(session, target) if target else None
    if row is not None:
        ticket_id = row.ticket_id
    elif target:
        ticket_id = session.execute(
            select(Message.ticket_id).where(Message.external_id == target).limit(1)
        ).scalar_one_or_none()
    ticket = session.get(Ticket, ticket_id, with_for_update=True) if ticket_id else None
    if ticket is None:
        ticket = conversation.open_in_chat(session, CHANNEL, str(message.get("from") or ""))
    what = f"reacted {emoji}" if emoji else "removed a reaction"
    whose = "our message" if row is not None else "a message"
    if ticket is None:
        return f"the client {what} to {whose} on no open ticket: recorded here only"
    try:
        note(
            ctx,
            session,
            system("whatsapp"),
            ticket,
            text=f"The client {what} to {whose} on WhatsApp.",
        )
    except SwitchboardError as exc:
        return f"the client {what} to {whose} on {ticket.number}: not noted ({exc})"
    return f"the client {what} to {whose}: noted on {ticket.number}"


# What the agent is told ------------------------------------------------------------------


def click_to_chat(number: str, text: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    return f"https://wa.me/{digits}?text={quote(text, safe='')}"


def hinter(ctx: Context, template: str) -> Any:
    """The window (when replies go by WhatsApp) and a "Send on WhatsApp" link (when the
    client has a WhatsApp number), for the ticket view and the Slack card."""

    def hints(session: Session, ticket: Ticket) -> list[dict[str, str]]:
        shown: list[dict[str, str]] = []
        replying = ticket.reply_identity
        number = replying.address if replying is not None and replying.kind == CHANNEL else None
        if number is not None:
            now = ctx.now()
            left = window_left(session, number, now)
            hint = {"text": window_text(left, template)}
            if left > timedelta(0):  # the card is as of its last redraw: say until when
                hint["until"] = (now + left).isoformat()
            shown.append(hint)
        elif ticket.contact_id is not None:
            number = session.execute(
                select(Identity.address)
                .where(Identity.contact_id == ticket.contact_id, Identity.kind == CHANNEL)
                .order_by(Identity.id)
                .limit(1)
            ).scalar_one_or_none()
        if number:
            text = f"About your ticket {ticket.number}: {ctx.tracking_link(ticket.tracking_token)}"
            shown.append({"label": "Send on WhatsApp", "link": click_to_chat(number, text)})
        return shown

    return hints


# Media ---------------------------------------------------------------------------------


def fetcher(graph: Graph) -> Any:
    """Downloads a media message's file by id before the message is decided."""

    def fetch(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        if meta.get("kind", MESSAGE) != MESSAGE:
            return []
        ref = media_ref(load(raw).get("message") or {})
        if ref is None:
            return []
        media_id, filename, mime = ref
        try:
            media = graph.media(media_id)
            if media.size is not None and media.size > limit:
                data = None
            else:  # at once: the URL is good for five minutes
                data = graph.download(media.url, limit)
        except GraphError as exc:
            return [Fetched(media_id, filename, mime, problem=f"could not be fetched: {exc}")]
        if data is None:
            return [
                Fetched(media_id, filename, mime, problem=f"larger than {limit} bytes: not kept")
            ]
        return [Fetched(media_id, filename, media.mime_type or mime, data)]

    return fetch
