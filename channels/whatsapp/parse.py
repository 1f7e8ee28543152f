"""WhatsApp webhook bodies: split into items to store, and a stored message into ``Inbound``.

One webhook POST may carry several messages and statuses (``entry[].changes[].value``).
``split`` turns it into one item per message, per status and per anything else,
each stored as its own inbound record, so that "the same wamid twice" is one record
whichever body carries it again:

| item     | external id                | decided by                                     |
|----------|----------------------------|------------------------------------------------|
| message  | its wamid                  | the intake rules (reactions: the event handler) |
| status   | ``status:WAMID:STATUS``    | the event handler: the delivery it reports on  |
| other    | ``other:`` + body digest   | the event handler: recorded, nothing to do     |

``parse`` turns a stored message into one ``Inbound``: text, the caption and file of
an image, document, audio, video or sticker (fetched beforehand, ``fetch.attached``),
a location, shared contacts, the title of a button or list reply; a message type
WhatsApp does not support is recorded with WhatsApp's explanation.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import IntakeError, odd_shapes_refused
from core.intake.fetch import attached
from core.values import Inbound

CHANNEL = "whatsapp"
MEDIA = ("image", "document", "audio", "video", "sticker")
MESSAGE, STATUS, OTHER = "message", "status", "other"


@dataclass(frozen=True)
class Item:
    kind: str  # message, status, other
    external_id: str
    raw: bytes
    phone_number_id: str


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode()


@odd_shapes_refused("the WhatsApp webhook")
def split(body: bytes) -> list[Item]:
    """One item per message, status and other change; raises ``IntakeError`` naming
    what is wrong when the body is not a WhatsApp Business Account webhook."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise IntakeError(f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise IntakeError("'object' must be 'whatsapp_business_account'")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise IntakeError("'entry' must be a list")
    items: list[Item] = []
    for entry in entries:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            if not isinstance(value, dict):
                raise IntakeError("'entry[].changes[].value' must be an object")
            metadata = value.get("metadata") or {}
            number_id = str(metadata.get("phone_number_id") or "")
            profiles = {str(c.get("wa_id")): c for c in value.get("contacts") or [] if c}
            for message in value.get("messages") or []:
                if not isinstance(message, dict) or not message.get("id"):
                    raise IntakeError("a message without an 'id'")
                contact = profiles.get(str(message.get("from")))
                raw = {"metadata": metadata, "contact": contact, "message": message}
                items.append(Item(MESSAGE, str(message["id"]), _dump(raw), number_id))
            for status in value.get("statuses") or []:
                if not isinstance(status, dict) or not status.get("id"):
                    raise IntakeError("a status without an 'id'")
                raw = {"metadata": metadata, "status": status}
                external_id = f"status:{status['id']}:{status.get('status')}"
                items.append(Item(STATUS, external_id, _dump(raw), number_id))
            if not value.get("messages") and not value.get("statuses"):
                raw = {"field": change.get("field"), "value": value}
                digest = hashlib.sha256(_dump(raw)).hexdigest()[:40]
                items.append(Item(OTHER, f"other:{digest}", _dump(raw), number_id))
    return items


def load(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise IntakeError(f"stored WhatsApp item is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IntakeError("stored WhatsApp item is not an object")
    return data


def timestamp(message: dict[str, Any]) -> datetime | None:
    stamp = str(message.get("timestamp") or "")
    return datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None


def media_ref(message: dict[str, Any]) -> tuple[str, str, str] | None:
    """(media id, file name, content type) of a media message, else None."""
    kind = str(message.get("type") or "")
    if kind not in MEDIA:
        return None
    media = message.get(kind) or {}
    media_id = str(media.get("id") or "")
    if not media_id:
        return None
    mime = str(media.get("mime_type") or "application/octet-stream").split(";")[0].strip()
    extension = {"audio/ogg": ".ogg", "image/webp": ".webp", "image/jpeg": ".jpg"}.get(mime) or (
        mimetypes.guess_extension(mime) or ""
    )
    filename = str(media.get("filename") or f"{kind}-{media_id}{extension}")
    return media_id, filename, mime


def _location(place: dict[str, Any]) -> str:
    lat, lon = place.get("latitude"), place.get("longitude")
    named = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
    where = f"{lat}, {lon}"
    lines = [f"[Location: {named} ({where})]" if named else f"[Location: {where}]"]
    lines.append(f"https://maps.google.com/?q={lat},{lon}")
    if place.get("url"):
        lines.append(str(place["url"]))
    return "\n".join(lines)


def _contacts(cards: list[dict[str, Any]]) -> str:
    lines = []
    for card in cards:
        name = (card.get("name") or {}).get("formatted_name") or "(no name)"
        phones = ", ".join(str(p.get("phone") or p.get("wa_id")) for p in card.get("phones") or [])
        emails = ", ".join(str(e.get("email")) for e in card.get("emails") or [] if e.get("email"))
        org = (card.get("org") or {}).get("company")
        details = "; ".join(x for x in (phones, emails, org) if x)
        lines.append(f"[Shared contact: {name}" + (f": {details}]" if details else "]"))
    return "\n".join(lines)


def _unsupported(message: dict[str, Any]) -> str:
    errors = message.get("errors") or []
    why = "; ".join(
        f"{e.get('code')} {e.get('title') or e.get('message') or ''}".strip()
        + (f" ({e['error_data']['details']})" if (e.get("error_data") or {}).get("details") else "")
        for e in errors
    )
    kind = message.get("type") or "unknown"
    return f"[The client sent a message WhatsApp does not pass on ({kind})" + (
        f": {why}]" if why else "]"
    )


def text_of(message: dict[str, Any], meta: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    """The message's text, its files (fetched beforehand) and extras for the ticket."""
    kind = str(message.get("type") or "")
    extras: dict[str, Any] = {"type": kind}
    if kind == "text":
        return str((message.get("text") or {}).get("body") or ""), [], extras
    ref = media_ref(message)
    if ref is not None:
        media_id, filename, _ = ref
        caption = str((message.get(kind) or {}).get("caption") or "")
        got = attached(meta, media_id, filename)
        if isinstance(got, str):
            line = f"[{kind} {filename} {got}]"
            return "\n".join(x for x in (caption, line) if x), [], extras
        return caption or f"[{kind}: {got.filename}]", [got], extras
    if kind == "location":
        return _location(message.get("location") or {}), [], extras
    if kind == "contacts":
        return _contacts(message.get("contacts") or []), [], extras
    if kind == "interactive":
        reply = message.get("interactive") or {}
        chosen = reply.get(str(reply.get("type") or "")) or {}
        extras["button"] = str(chosen.get("id") or "")
        return str(chosen.get("title") or chosen.get("id") or ""), [], extras
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        extras["button"] = str(button.get("payload") or "")
        return str(button.get("text") or button.get("payload") or ""), [], extras
    if kind == "order":
        return "[The client sent an order from the catalogue]", [], extras
    if kind == "system":
        return (
            f"[WhatsApp: {(message.get('system') or {}).get('body') or 'system message'}]",
            [],
            extras,
        )
    return _unsupported(message), [], extras


@odd_shapes_refused("the stored WhatsApp message")
def parse(raw: bytes, meta: dict[str, Any]) -> Inbound:
    """A stored message item -> ``Inbound`` (raises ``IntakeError`` when unreadable)."""
    data = load(raw)
    message = data.get("message")
    if not isinstance(message, dict) or not message.get("from"):
        raise IntakeError("not a WhatsApp message (no 'message' with a 'from')")
    number = str(message["from"])
    if not (
        number.isascii() and number.isdigit()
    ):  # a WhatsApp id: the number in international form, digits only
        raise IntakeError(f"'from' is not a WhatsApp number: {number[:40]!r}")
    text, files, extras = text_of(message, meta)
    profile = ((data.get("contact") or {}).get("profile") or {}).get("name") or ""
    context = message.get("context") or {}
    return Inbound(
        channel=CHANNEL,
        external_id=str(message["id"]),
        sender=number,
        sender_name=str(profile),
        text=text,
        attachments=tuple(files),
        references=(str(context["id"]),) if context.get("id") else (),
        received_at=timestamp(message),
        extras=extras,
        chat=number,
    )
