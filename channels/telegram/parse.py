"""A stored Telegram update as an ``Inbound``: what the client wrote, sent or shared.

| in the message                  | on the ticket                                           |
|---------------------------------|---------------------------------------------------------|
| text, caption                   | the message's text (``/new ...``: a new ticket)         |
| photo (largest size), document, | attachments, downloaded before the message is decided   |
| voice, audio, video, video note | (``fetch``); one that could not be: a line saying why   |
| location, venue                 | a line in the text, and the ticket's location           |
| contact                         | a line in the text and a vCard attachment               |
| anything else (sticker, poll)   | a line naming what it was                               |

The sender is the chat (its id is the client's address: replies go there); the
chat continues its open ticket (``Inbound.chat``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels.telegram import updates
from core.errors import IntakeError, odd_shapes_refused
from core.intake.fetch import attached
from core.values import AttachmentIn, Inbound

NAME = "telegram"
OTHER_KINDS = ("sticker", "animation", "poll", "dice", "game", "story", "invoice")


@odd_shapes_refused("the stored Telegram update")
def parse(raw: bytes, meta: dict[str, Any]) -> Inbound:
    update = updates.load(raw)
    msg = updates.message(update)
    if msg is None:
        raise IntakeError(f"a Telegram {updates.kind(update) or 'empty'} update is not a message")
    chat = updates.chat_id(msg)
    if not chat.lstrip("-").isascii() or not chat.lstrip("-").isdigit():
        raise IntakeError(f"a Telegram message without a chat id (a number): {chat[:40]!r}")
    text = str(msg.get("text") or msg.get("caption") or "")
    new_ticket = False
    command = updates.command(msg)
    if command is not None and command[0] == "/new":
        new_ticket, text = True, command[1]
    lines = [text] if text else []
    attachments: list[AttachmentIn] = []
    for ref in updates.files(msg):
        got = attached(meta, ref.file_id, ref.filename)
        if isinstance(got, str):
            lines.append(f"[{ref.filename}: {got}]")
        else:
            attachments.append(got)
    location = _place(msg)
    if location:
        lines.append(f"Shared location: {location}")
    contact = msg.get("contact")
    if isinstance(contact, dict):
        lines.append(f"Shared contact: {_contact_line(contact)}")
        attachments.append(_vcard(contact))
    for other in OTHER_KINDS:
        if other in msg:
            lines.append(f"[a {other.replace('_', ' ')} was sent, which is not kept]")
    sender = msg.get("from") or {}
    name = " ".join(
        str(p) for p in (sender.get("first_name"), sender.get("last_name")) if p
    ) or str(sender.get("username") or "")
    date = msg.get("date")
    return Inbound(
        channel=NAME,
        external_id=f"{chat}:{msg['message_id']}",
        sender=chat,
        sender_name=name,
        text="\n".join(lines).strip() or "(empty message)",
        attachments=tuple(attachments),
        received_at=datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None,
        extras={"chat_id": chat, "message_id": msg["message_id"]},
        chat=chat,
        new_ticket=new_ticket,
        location=location,
    )


def _place(msg: dict[str, Any]) -> str:
    """A venue's title and address with its coordinates, or a location's coordinates."""
    venue = msg.get("venue")
    point = (venue or {}).get("location") or msg.get("location")
    if not isinstance(point, dict):
        return ""
    lat, lon = point.get("latitude"), point.get("longitude")
    where = f"{lat}, {lon} (https://www.openstreetmap.org/?mlat={lat}&mlon={lon})"
    if isinstance(venue, dict):
        named = ", ".join(str(venue[k]) for k in ("title", "address") if venue.get(k))
        return f"{named} — {where}" if named else where
    return where


def _contact_line(contact: dict[str, Any]) -> str:
    name = " ".join(str(contact[k]) for k in ("first_name", "last_name") if contact.get(k))
    return ", ".join(p for p in (name, str(contact.get("phone_number") or "")) if p)


def _vcard(contact: dict[str, Any]) -> AttachmentIn:
    """The shared contact as a vCard file (Telegram's own when it sent one)."""
    card = str(contact.get("vcard") or "")
    name = " ".join(str(contact[k]) for k in ("first_name", "last_name") if contact.get(k))
    if not card:
        card = (
            "BEGIN:VCARD\r\nVERSION:3.0\r\n"
            f"FN:{name or 'Contact'}\r\nTEL:{contact.get('phone_number', '')}\r\nEND:VCARD\r\n"
        )
    filename = f"{name or 'contact'}.vcf".replace("/", "-")
    return AttachmentIn(filename=filename, content_type="text/vcard", data=card.encode())
