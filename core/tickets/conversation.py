"""The conversation on a ticket: the client writes again, an agent replies in
public, or leaves an internal note (a different kind all the way down: it never
reaches a client)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import audit, contacts
from core.context import Context
from core.models import Identity, Message, Ticket, TicketStatus
from core.principals import Principal, client_principal, system
from core.tickets import files, thread, workflow
from core.tickets.change import apply
from core.tickets.notices import Notice
from core.tickets.thread import Entry
from core.values import AttachmentIn, printable


def client_message(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    identity: Identity,
    *,
    text: str,
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    external_id: str | None = None,
    inbound_record_id: int | None = None,
) -> Message:
    """The client wrote again: append, reply on their channel, wake the ticket."""

    def edit() -> None:
        thread.ensure_participant(session, ticket, identity.contact_id)
        if identity.contact_id == ticket.contact_id or ticket.reply_identity_id is None:
            # The next reply goes where the client last wrote from (a copied
            # participant's message does not move it).
            ticket.reply_identity = identity

    entry = thread.from_client(identity, text, html, attachments, external_id, inbound_record_id)
    change = apply(
        ctx,
        session,
        client_principal(identity.contact_id),
        ticket,
        "client_reply",
        fields={"text": text or "(attachment)"},
        data={"channel": identity.kind},
        entry=entry,
        edit=edit,
    )
    if ticket.status == TicketStatus.RESOLVED:
        workflow.reopen(ctx, session, system("intake"), ticket, reason="the client wrote again")
    elif ticket.status == TicketStatus.ON_HOLD and ticket.hold_reason == "waiting_on_client":
        workflow.resume(ctx, session, system("intake"), ticket)
    return _message(session, change.message_id)


def reply(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    text: str,
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    external_id: str | None = None,
    delay_seconds: float = 0,
) -> Message:
    """A public reply from an agent, delivered to the client on their channel, with
    its files (``core.tickets.files``: refused, naming the file, when one cannot go).

    With ``delay_seconds`` the delivery waits that long (observers may offer an Undo).
    Control characters are taken out of the text (PostgreSQL refuses NUL in text).
    """
    text, html = printable(text), printable(html) if html is not None else None
    channel = contacts.reply_channel(ctx, session, ticket, default="none")
    files.check(ctx, attachments, channel=channel)

    def edit() -> None:
        if ticket.first_response_at is None:
            ticket.first_response_at = ctx.now()

    data: dict[str, Any] = {}
    if delay_seconds > 0:
        data["delay_seconds"] = delay_seconds
    change = apply(
        ctx,
        session,
        who,
        ticket,
        "reply",
        fields={"text": text or ("(files)" if attachments else "")},
        data=data,
        entry=Entry(
            kind="public",
            direction="out",
            channel=channel,
            body_text=text,
            body_html=html,
            author_agent_id=who.agent_id,
            external_id=external_id,
            attachments=attachments,
        ),
        edit=edit,
        notice=Notice(
            "reply",
            automatic=False,
            fields={"body": text, "agent_name": who.name},
            delivers_entry=True,
            not_before=ctx.now() + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None,
            unsent="reply_undeliverable",
        ),
    )
    return _message(session, change.message_id)


def note(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    text: str,
    attachments: Sequence[AttachmentIn] = (),
) -> Message:
    """An internal note, with files for the team. It is a different kind all the way
    down: neither it nor its files ever reach a client. Control characters are taken
    out of the text, as from a reply's."""
    text = printable(text)
    files.check(ctx, attachments, channel=None)
    change = apply(
        ctx,
        session,
        who,
        ticket,
        "note",
        fields={"text": text or ("(files)" if attachments else "")},
        entry=Entry(
            kind="internal",
            direction="out",
            channel="internal",
            body_text=text,
            author_agent_id=who.agent_id,
            attachments=attachments,
        ),
    )
    return _message(session, change.message_id)


def client_edit(
    ctx: Context, session: Session, message: Message, *, text: str, edited_by: str
) -> bool:
    """The client edited a message they sent (a chat platform allows it): the stored
    message takes the new text, and the audit keeps the old one beside it. Returns
    False when the text is the same (nothing to record)."""
    if message.direction != "in" or message.kind != "public":
        raise ValueError(f"message {message.id} is not a client's message")
    if (message.body_text or "") == text:
        return False
    audit.record(
        session,
        actor=edited_by,
        action="client_message_edited",
        ticket_id=message.ticket_id,
        data={"message": message.id, "before": message.body_text or "", "after": text},
        now=ctx.now(),
    )
    message.body_text = text
    return True


def _message(session: Session, message_id: int | None) -> Message:
    message = session.get(Message, message_id)
    assert message is not None
    return message
