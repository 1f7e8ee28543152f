"""Raw RFC 5322 bytes -> ``Inbound``. Registered as the ``email`` parser in core.intake.

Anything the standard library can read gives an ``Inbound``: bodies in any charset
Python knows (unknown ones are decoded as UTF-8 with replacement), RFC 2047 and raw
8-bit headers, attachments and inline images, threading ids, and the loop-safety
signals (automatic mail, bounces). Only what cannot be read at all raises
``IntakeError``, and the record is then parked with the raw message kept.
"""

from __future__ import annotations

import hashlib
import re
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

import html2text

from channels.email import autoreply, bounces, ids
from channels.email.quotes import visible_text
from core.errors import IntakeError
from core.values import AttachmentIn, DeliveryReport, FailedRecipient, Inbound

CHANNEL = "email"

RETURNED_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global",
    "message/global-headers",
)
FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|i)\s*:", re.IGNORECASE)
FORWARDED_FROM = re.compile(
    r"^\s*[*>]*\s*(?:From|Von|De|Da|Van)\s*[*]?\s*:\s*[*]?\s*(?P<value>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
MESSAGE_ID_IN_TEXT = re.compile(
    r"^\s*(?:Original-)?Message-ID\s*:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE
)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    try:
        text = converter.handle(html)
    except Exception:  # html2text on broken markup: fall back to stripping tags
        text = re.sub(r"<[^>]+>", " ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _fix(value: str) -> str:
    """Undo surrogate-escaped raw 8-bit header bytes: UTF-8 first, then Latin-1."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _raw_headers(msg: Message, name: str) -> list[str]:
    lowered = name.lower()
    return [
        v if isinstance(v, str) else str(v)
        for k, v in getattr(msg, "_headers", [])
        if k.lower() == lowered
    ]


def _decode_value(value: str) -> str:
    text = _fix(value)
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:
            pass
    return " ".join(text.split())


def header(msg: Message, name: str) -> str:
    """One header, decoded (RFC 2047, raw 8-bit); '' when absent or unreadable."""
    values = _raw_headers(msg, name)
    return _decode_value(values[0]) if values else ""


def headers(msg: Message, name: str) -> list[str]:
    return [_decode_value(v) for v in _raw_headers(msg, name)]


def _decode_part(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:
        pass
    if charset and charset not in ("us-ascii", "ascii"):
        try:
            return payload.decode(charset, errors="replace")
        except (LookupError, ValueError):
            pass  # a charset Python does not know: guess below
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", errors="replace")


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        name = str(name)
        if "=?" in name:
            try:
                name = str(make_header(decode_header(name)))
            except Exception:
                pass
        return _fix(name).replace("/", "_").replace("\\", "_").strip()[:300]
    return ""


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


class _Walk:
    def __init__(self) -> None:
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[AttachmentIn] = []
        self.reports: list[Message] = []

    def walk(self, part: Message, depth: int = 0) -> None:
        ctype = _content_type(part)
        if depth > 30:
            return
        if part.is_multipart() and not ctype.startswith("message/"):
            payload = part.get_payload()
            for child in payload if isinstance(payload, list) else []:
                if isinstance(child, Message):
                    self.walk(child, depth + 1)
            return
        disposition = _disposition(part)
        name = _filename(part)
        if ctype in (
            "message/delivery-status",
            "message/rfc822",
            "text/rfc822-headers",
            "message/rfc822-headers",
            "message/global",
            "message/global-headers",
        ):
            self.reports.append(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            body = _decode_part(part)
            if ctype == "text/plain" and self.text is None:
                self.text = body
                return
            if ctype == "text/html" and self.html is None:
                self.html = body
                return
        if ctype == "message/delivery-status":
            return
        data = _part_bytes(part)
        if not name:
            ext = {
                "message/rfc822": ".eml",
                "text/plain": ".txt",
                "text/html": ".html",
                "text/calendar": ".ics",
            }.get(ctype, "")
            name = f"part-{len(self.attachments) + 1}{ext}"
        has_cid = bool(part.get("Content-ID"))
        inline = ctype.startswith("image/") and (
            disposition == "inline" or (has_cid and disposition != "attachment")
        )
        self.attachments.append(
            AttachmentIn(filename=name, content_type=ctype, data=data, inline=inline)
        )


def _part_bytes(part: Message) -> bytes:
    if _content_type(part).startswith("message/"):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            try:
                return payload[0].as_bytes(policy=policy.compat32)
            except Exception:
                return str(payload[0]).encode("utf-8", "replace")
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def external_id_of(raw: bytes) -> str:
    """The Message-ID (``<...>``), or a digest of the bytes when there is none."""
    end = raw.find(b"\r\n\r\n")
    end2 = raw.find(b"\n\n")
    cut = min(x for x in (end, end2, len(raw)) if x >= 0)
    head = raw[:cut]
    match = re.search(
        rb"^message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(\S[^\r\n]*)", head, re.IGNORECASE | re.MULTILINE
    )
    if match:
        found = ids.normalize_ids(match.group(1).decode("latin-1"))
        if found:
            return found[0]
    return _written_digest(head, raw[cut:]) or "sha256:" + hashlib.sha256(raw).hexdigest()


WRITTEN_HEADERS = (b"from", b"to", b"cc", b"date", b"subject")


def _written_digest(head: bytes, body: bytes) -> str | None:
    """A digest of what the sender wrote (From, To, Cc, Date, Subject and the body),
    not of what relays added (Received, DKIM, ...): the same message arriving by
    two routes is one. None without a Date, when two sends could not be told apart."""
    fields: dict[bytes, bytes] = {}
    for line in re.sub(rb"\r?\n[ \t]+", b" ", head).splitlines():
        name, colon, value = line.partition(b":")
        key = name.strip().lower()
        if colon and key in WRITTEN_HEADERS and key not in fields:
            fields[key] = b" ".join(value.split())
    if b"date" not in fields:
        return None
    text = b"\n".join(line.rstrip() for line in body.strip(b"\r\n").splitlines())
    digest = hashlib.sha256()
    for key in WRITTEN_HEADERS:
        digest.update(key + b":" + fields.get(key, b"") + b"\n")
    digest.update(b"\n" + text)
    return "written:" + digest.hexdigest()


def bounce_target(walk: _Walk, text: str) -> str | None:
    """The Message-ID of the message a delivery report returns (ours first), if it shows one."""
    candidates: list[str] = []
    for part in walk.reports:
        inner_ctype = _content_type(part)
        if inner_ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                candidates += ids.normalize_ids(header(payload[0], "Message-ID"))
        else:  # headers only, or a delivery-status part: look for Message-ID lines
            candidates += [
                m
                for m in MESSAGE_ID_IN_TEXT.findall(
                    _decode_part(part) or _part_bytes(part).decode("latin-1")
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
    msg: Message, walk: _Walk, text: str, *, sender: str, sender_name: str, null_sender: bool
) -> DeliveryReport | None:
    """The bounce or delay notice this message is (``channels.email.bounces``), or None."""
    copied = {a.lower() for _, a in getaddresses(headers(msg, "To") + headers(msg, "Cc"))}
    returned = any(_content_type(p) in RETURNED_TYPES for p in walk.reports)
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
    if not FORWARD_SUBJECT.match(subject) and "forwarded message" not in text.lower():
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
    walk = _Walk()
    walk.walk(msg)
    text = walk.text
    if text is None or (not text.strip() and walk.html):
        text = html_to_text(walk.html) if walk.html else ""
    text = text.replace("\r\n", "\n")
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
    visible = text if on_behalf_of else visible_text(text)
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
