"""HTML forms sent to the pages: fields and files, read from a bounded body.

Both encodings a browser sends are read with the standard library
(``application/x-www-form-urlencoded`` and ``multipart/form-data``, the latter
through ``email.parser``), so a page needs no form library. A body larger than
the page allows is refused before it is parsed.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import Request

from core.values import AttachmentIn


class TooLarge(Exception):
    """The form is larger than the page accepts."""


@dataclass
class Sent:
    """A form as sent: the first value of each field, and the files chosen."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[AttachmentIn] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


async def read(request: Request, max_bytes: int) -> Sent:
    """The form in ``request``'s body. Raises ``TooLarge`` past ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge
    kind = request.headers.get("content-type", "")
    if kind.lower().startswith("multipart/form-data"):
        return multipart(kind, body)
    return urlencoded(body)


def urlencoded(body: bytes) -> Sent:
    """An ``application/x-www-form-urlencoded`` body."""
    return Sent(fields={k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v})


def multipart(kind: str, body: bytes) -> Sent:
    """A ``multipart/form-data`` body (``kind`` is its Content-Type, with the boundary)."""
    head = f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    sent = Sent()
    if not message.is_multipart():
        return sent
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if filename is not None:
            if data or filename:  # a file input left empty sends no name and no bytes
                sent.files.append(
                    AttachmentIn(
                        filename[:300],
                        part.get_content_type() or "application/octet-stream",
                        data,
                    )
                )
        elif name not in sent.fields:
            charset = part.get_content_charset() or "utf-8"
            sent.fields[name] = data.decode(charset, "replace")
    return sent
