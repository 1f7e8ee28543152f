"""The MIME tree of one message -> the text a person wrote, its HTML, its files.

Rules, in the order a message is walked:

- ``multipart/alternative``: one rendering is chosen (text/plain, else the HTML
  turned into text); the HTML rendering is kept as the message's HTML.
- Every other inline ``text/plain`` part is a piece of the body, in order: a
  second text part (after an inline image, a signature part, a text part added by
  a mailer) is never dropped.
- ``format=flowed`` text is unwrapped (RFC 3676, with DelSp).
- uuencoded blocks (``begin 644 name`` ... ``end``) inside text become files.
- A multipart whose boundary the headers mangled (folded across lines, wrong
  quotes) is split on the boundary found in its body; if none is found, its
  body is read as text rather than lost.
- Anything else is a file (inline images marked inline); delivery reports and
  attached messages are also kept for bounce detection.
"""

from __future__ import annotations

import binascii
import mimetypes
import re
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import Message

import html2text

from channels.email.decode import decode_words, fix_8bit, text_of
from core.values import AttachmentIn

# What a bounce carries of the message it returns: the whole of it, or its headers.
RETURNED_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global",
    "message/global-headers",
)
# The parts of a delivery report the walk keeps aside: its status and the returned message.
REPORT_TYPES = ("message/delivery-status", *RETURNED_TYPES)
UU_BLOCK = re.compile(
    r"^begin [0-7]{3,4} (?P<name>[^\n]+?)[ \t]*\n(?P<data>.*?)^end[ \t]*$\n?",
    re.MULTILINE | re.DOTALL,
)
BOUNDARY_LINE = re.compile(r"^--([^\s]{4,200}?)(--)?[ \t]*\r?$", re.MULTILINE)


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


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value.strip().lower() if isinstance(value, str) else ""


def decode_part(part: Message) -> str:
    """A text part's payload as text, in its charset (or a better guess); flowed text unwrapped."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        text = raw if isinstance(raw, str) else ""
    elif not isinstance(payload, bytes):
        text = str(payload)
    else:
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        text = text_of(payload, charset)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if content_type(part) == "text/plain" and _param(part, "format") == "flowed":
        text = unflow(text, delsp=_param(part, "delsp") == "yes")
    return text


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676: join soft-broken lines (ending in a space) of the same quote depth."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if pending is not None and depth != pending_depth:
            out.append(_quoted(pending, pending_depth))
            pending = None
        pending = content if pending is None else pending + content
        pending_depth = depth
        if not soft:
            out.append(_quoted(pending, depth))
            pending = None
    if pending is not None:
        out.append(_quoted(pending, pending_depth))
    return "\n".join(out)


def _quoted(content: str, depth: int) -> str:
    return (">" * depth + " " + content) if depth else content


def filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return ""
    return _safe_name(decode_words(fix_8bit(str(name))))


def _safe_name(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_").strip()[:300]


def part_bytes(part: Message) -> bytes:
    if content_type(part).startswith("message/"):
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


def _guess(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _uudecode(block: str) -> bytes:
    out = bytearray()
    for line in block.split("\n"):
        if not line or line in ("`", " "):
            continue
        if not line.isascii():  # damaged in transit: the file ends where the damage starts
            return bytes(out)
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:  # trailing garbage some encoders add: cut to the declared length
            size = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:size])
            except binascii.Error:
                return bytes(out)
    return bytes(out)


def _repair_multipart(part: Message, ctype: str) -> Message | None:
    """A multipart the parser could not split: split it on the boundary its body uses."""
    body = part.get_payload()
    if not isinstance(body, str):
        return None
    declared = part.get_param("boundary")
    candidates: list[str] = []
    if isinstance(declared, str):
        candidates.append(re.sub(r"\s+", "", declared))
    counts: dict[str, int] = {}
    for match in BOUNDARY_LINE.finditer(body):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    candidates += sorted(counts, key=lambda b: -counts[b])
    for boundary in candidates:
        if boundary and f"--{boundary}" in body:
            head = f'Content-Type: {ctype}; boundary="{boundary}"\n\n'
            fixed = message_from_string(head + body, policy=policy.compat32)
            if isinstance(fixed.get_payload(), list) and fixed.get_payload():
                return fixed
    return None


@dataclass
class Body:
    """What a walk found: the text pieces a person wrote, the HTML, files and reports."""

    pieces: list[str] = field(default_factory=list)
    html_pieces: list[str] = field(default_factory=list)
    html: str | None = None
    attachments: list[AttachmentIn] = field(default_factory=list)
    reports: list[Message] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Every text piece in order; the HTML as text when there is no text part."""
        text = "\n\n".join(p.strip("\n") for p in self.pieces if p.strip())
        if not text.strip() and self.html_pieces:
            text = "\n\n".join(html_to_text(h) for h in self.html_pieces)
        return text

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > 30:
            return
        ctype = content_type(part)
        if ctype.startswith("multipart/") and not part.is_multipart():
            repaired = _repair_multipart(part, ctype)
            if repaired is None:  # no boundary anywhere: keep the body as text
                self._text(decode_part(part))
                return
            part = repaired
        if part.is_multipart() and not ctype.startswith("message/"):
            payload = part.get_payload()
            children = (
                [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []
            )
            if ctype == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        disposition = _disposition(part)
        name = filename(part)
        if ctype in REPORT_TYPES:
            self.reports.append(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            if ctype == "text/plain":
                self._text(decode_part(part))
                return
            if self.html is None:
                self.html = decode_part(part)
                self.html_pieces.append(self.html)
                return
        if ctype == "message/delivery-status":
            return
        self._file(part, ctype, disposition, name)

    def _alternative(self, children: list[Message], depth: int) -> None:
        plain = [
            c
            for c in children
            if content_type(c) == "text/plain" and _disposition(c) != "attachment"
        ]
        for child in children:
            ctype = content_type(child)
            if child is (plain[0] if plain else None):
                self._text(decode_part(child))
            elif ctype == "text/plain" and plain:
                continue  # a second plain rendering of the same words
            elif ctype == "text/html" and _disposition(child) != "attachment":
                html = decode_part(child)
                self.html = self.html if self.html is not None else html
                if not plain:
                    self.pieces.append(html_to_text(html))
            elif ctype.startswith("multipart/"):
                before, html_before = len(self.pieces), len(self.html_pieces)
                self.walk(child, depth + 1)  # related HTML and its images
                if plain:
                    del self.pieces[before:]  # its words are the plain rendering's
                else:
                    self.pieces += [html_to_text(h) for h in self.html_pieces[html_before:]]
            else:
                self.walk(child, depth + 1)

    def _text(self, text: str) -> None:
        kept, start = [], 0
        for match in UU_BLOCK.finditer(text):
            name = _safe_name(match.group("name")) or f"part-{len(self.attachments) + 1}"
            data = _uudecode(match.group("data"))
            self.attachments.append(
                AttachmentIn(filename=name, content_type=_guess(name), data=data)
            )
            kept.append(text[start : match.start()])
            start = match.end()
        kept.append(text[start:])
        self.pieces.append("".join(kept))

    def _file(self, part: Message, ctype: str, disposition: str, name: str) -> None:
        data = part_bytes(part)
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
