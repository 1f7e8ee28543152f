"""Raw RFC 5322 bytes -> ``Inbound``. Registered as the ``email`` parser in core.intake.

Anything the standard library can read gives an ``Inbound``: bodies in any charset
Python knows (unknown ones are decoded as UTF-8 with replacement), RFC 2047 and raw
8-bit headers, attachments and inline images, threading ids, and the loop-safety
signals (automatic mail, bounces). Only what cannot be read at all raises
``IntakeError``, and the record is then parked with the raw message kept. The MIME walk is
in body.py, header and charset decoding in decode.py, the new text of a reply in quotes.py.
"""

from __future__ import annotations

import hashlib
import re
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from channels.email import autoreply, bounces, ids
from channels.email.body import (
    RETURNED_TYPES,
    Body,
    content_type,
    decode_part,
    html_to_text,
    part_bytes,
)
from channels.email.decode import header, headers
from channels.email.quotes import forwards, visible_text
from core.errors import IntakeError
from core.values import DeliveryReport, FailedRecipient, Inbound

CHANNEL = "email"

FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|i)\s*:", re.IGNORECASE)
FORWARDED_FROM = re.compile(
    r"^\s*[*>]*\s*(?:From|Von|De|Da|Van)\s*[*]?\s*:\s*[*]?\s*(?P<value>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
MESSAGE_ID_IN_TEXT = re.compile(
    r"^\s*(?:Original-)?Message-ID\s*:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE
)


def external_id_of(raw: bytes) -> str:
    """The Message-ID (``<...>``), or a digest of the bytes when there is none (see
    ``keys_of``)."""
    cut, message_id, fields = _read_head(raw)
    return message_id or _written_digest(fields, raw[cut:]) or _bytes_digest(raw)


WRITTEN_HEADERS = (b"from", b"to", b"cc", b"date", b"subject")
FOLD = re.compile(rb"\r?\n[ \t]+")


def keys_of(raw: bytes) -> tuple[str, str | None]:
    """The message's two keys in inbound records, from one pass over its head.

    The external id: the Message-ID (``<...>``); without one the written key; without
    a Date either, a digest of the bytes (``sha256:...``). The written key
    (``written:...``): a digest of what the sender wrote, From, To, Cc, Date, Subject
    and the body, not of what relays added (Received, DKIM, a Message-ID a relay adds
    on submission), so the same mail arriving by two routes is one record whatever ids
    the routes gave it. Two different mails with the same From, To, Cc, Date (to the
    second), Subject and body are therefore one message too. None without a Date, when
    two sends could not be told apart.
    """
    cut, message_id, fields = _read_head(raw)
    written = _written_digest(fields, raw[cut:])
    return message_id or written or _bytes_digest(raw), written


def _read_head(raw: bytes) -> tuple[int, str | None, dict[bytes, bytes]]:
    """Where the head ends, its Message-ID, and its ``WRITTEN_HEADERS`` (the first of
    each, unfolded, runs of white space made one space)."""
    end = raw.find(b"\r\n\r\n")
    end2 = raw.find(b"\n\n")
    cut = min(x for x in (end, end2, len(raw)) if x >= 0)
    message_id: bytes | None = None
    fields: dict[bytes, bytes] = {}
    for line in FOLD.sub(b" ", raw[:cut]).splitlines():
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().lower()
        if key == b"message-id" and message_id is None and value.strip():
            message_id = value if name[:1] not in b" \t" else None
        elif key in WRITTEN_HEADERS and key not in fields:
            fields[key] = b" ".join(value.split())
    found = ids.normalize_ids(message_id.decode("latin-1")) if message_id is not None else []
    return cut, (found[0] if found else None), fields


def _bytes_digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _written_digest(fields: dict[bytes, bytes], body: bytes) -> str | None:
    """The written key of a head's ``WRITTEN_HEADERS`` (``fields``) and ``body``."""
    if b"date" not in fields:
        return None
    text = b"\n".join(line.rstrip() for line in body.strip(b"\r\n").splitlines())
    digest = hashlib.sha256()
    for key in WRITTEN_HEADERS:
        digest.update(key + b":" + fields.get(key, b"") + b"\n")
    digest.update(b"\n" + text)
    return "written:" + digest.hexdigest()


def bounce_target(walk: Body, text: str) -> str | None:
    """The Message-ID of the message a delivery report returns (ours first), if it shows one."""
    candidates: list[str] = []
    for part in walk.reports:
        inner_ctype = content_type(part)
        if inner_ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                candidates += ids.normalize_ids(header(payload[0], "Message-ID"))
        else:  # headers only, or a delivery-status part: look for Message-ID lines
            candidates += [
                m
                for m in MESSAGE_ID_IN_TEXT.findall(
                    decode_part(part) or part_bytes(part).decode("latin-1")
                )
            ]
    candidates += MESSAGE_ID_IN_TEXT.findall(text)
    if walk.html:
        candidates += MESSAGE_ID_IN_TEXT.findall(html_to_text(walk.html))
    ours = [c for c in candidates if ids.OUR_ID_RE.search(c)]
    if ours:
        return ours[0]
    if candidates:
        return candidates[0]
    found = ids.OUR_ID_RE.search(text)
    return ("<" + text[found.start() :].split(">")[0].lstrip("<") + ">") if found else None


def delivery_report(
    msg: Message, walk: Body, text: str, *, sender: str, sender_name: str, null_sender: bool
) -> DeliveryReport | None:
    """The bounce or delay notice this message is (``channels.email.bounces``), or None."""
    copied = {a.lower() for _, a in getaddresses(headers(msg, "To") + headers(msg, "Cc"))}
    returned = any(content_type(p) in RETURNED_TYPES for p in walk.reports)
    found = bounces.read(
        msg,
        walk.reports,
        sender=sender,
        sender_name=sender_name,
        null_sender=null_sender,
        subject=header(msg, "Subject"),
        text=text if text.strip() or not walk.html else html_to_text(walk.html),
        returned_original=returned,
        exclude=copied | {sender},
    )
    if found is None:
        return None
    failed = tuple(
        FailedRecipient(f.address[:320], f.permanent, f.status, f.diagnostic)
        for f in found.failures
    )
    return DeliveryReport(found.kind, failed, bounce_target(walk, text), found.permanent)


def forwarded_sender(subject: str, text: str) -> tuple[str, str] | None:
    """(address, name) of the original sender of a forwarded mail, if it shows one."""
    if not FORWARD_SUBJECT.match(subject) and not forwards(text):
        return None
    for match in FORWARDED_FROM.finditer(text):
        name, address = parseaddr(match.group("value").replace("[mailto:", "<").replace("]", ">"))
        if "@" in address:
            return address.lower(), name
    return None


def parse(raw: bytes, meta: dict[str, Any] | None = None) -> Inbound:
    """Turn one raw message into an ``Inbound``; raise IntakeError only for unreadable input."""
    meta = meta or {}
    if not raw or not raw.strip():
        raise IntakeError("empty message")
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:  # the stdlib parser is lenient; this is truly unreadable
        raise IntakeError(f"unreadable message: {type(exc).__name__}: {exc}") from exc
    try:
        return _parse(raw, msg, meta)
    except RecursionError as exc:
        raise IntakeError("message nested too deeply to read") from exc


def _parse(raw: bytes, msg: Message, meta: dict[str, Any]) -> Inbound:
    name, sender = parseaddr(header(msg, "From"))
    sender = sender.strip().lower()
    envelope = str(meta.get("mail_from") or "").strip("<>").lower()
    if not sender or "@" not in sender:
        sender = envelope if "@" in envelope else sender
    null_sender = ("mail_from" in meta and not envelope) or header(msg, "Return-Path").strip() in (
        "<>",
        "<<>>",
    )
    walk = Body()
    walk.walk(msg)
    text = walk.text
    subject = header(msg, "Subject")
    references = ids.normalize_ids(header(msg, "In-Reply-To"))
    for ref in reversed(ids.normalize_ids(header(msg, "References"))):
        if ref not in references:
            references.append(ref)
    token = None
    for field in ("Delivered-To", "X-Original-To", "To", "Cc"):
        for _, address in getaddresses(headers(msg, field)):
            token = token or ids.token_in_address(address)
    for address in meta.get("rcpt", []) or []:
        token = token or ids.token_in_address(str(address))
    for ref in references:
        token = token or ids.token_in_message_id(ref)
    report = delivery_report(
        msg, walk, text, sender=sender, sender_name=name, null_sender=null_sender or not sender
    )
    signals = autoreply.classify(
        msg,
        sender=sender,
        subject=subject,
        text=text,
        null_sender=null_sender,
        is_reply=bool(references),
    )
    automatic = signals.robot
    if report is not None:
        automatic = {"bounce": "bounce", "delay": "delay warning"}.get(
            report.kind, "delivery report"
        )
    if not sender:
        if not automatic:
            raise IntakeError("no sender address (From header missing or unreadable)")
        sender = "<>"  # a null-sender notice: filed as what it is, never answered
    support = {str(a).strip("<>").lower() for a in meta.get("rcpt", []) or []}
    copied = tuple(
        dict.fromkeys(
            address.lower()
            for _, address in getaddresses(headers(msg, "To") + headers(msg, "Cc"))
            if "@" in address
            and address.lower() != sender
            and address.lower() not in support
            and ids.token_in_address(address) is None
        )
    )[:50]
    received_at = None
    try:
        date = header(msg, "Date")
        received_at = parsedate_to_datetime(date) if date else None
    except Exception:
        received_at = None
    on_behalf_of = None if automatic else forwarded_sender(subject, text)
    visible = text if on_behalf_of else visible_text(text, name)
    return Inbound(
        channel=CHANNEL,
        external_id=str(meta.get("external_id") or external_id_of(raw)),
        sender=sender,
        sender_name=name,
        subject=subject,
        text=visible,
        html=walk.html,
        attachments=tuple(walk.attachments),
        references=tuple(references),
        reply_token=token,
        automatic=automatic,
        bounce_for=(report.about or "unknown") if report is not None else None,
        report=report,
        no_auto_reply=signals.no_auto_answer or automatic,
        list_id=signals.list_id,
        copied=copied,
        on_behalf_of=on_behalf_of,
        received_at=received_at,
        extras={"full_text_chars": len(text)},
    )
