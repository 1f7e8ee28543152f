"""The body of a reply or a note, with files: JSON, or a multipart form.

``POST /api/tickets/{number}/reply`` and ``.../note`` take either

- ``application/json``: ``{"text": ..., "attachments": [{"filename", "content_type",
  "content_base64"}], "override_reason": ...}``, checked like every JSON body
  (``field.attachments.0.content_base64`` when a file is not base64), or
- ``multipart/form-data`` (``curl -F text=... -F file=@report.pdf``): the fields
  ``text`` and ``override_reason``, and every file part, whatever its field name
  (a form without files may come urlencoded: ``curl -d text=...``).

Both bodies are held to ``ctx.max_upload_bytes`` (``channels.web.limits``: these
two paths take uploads); each file then to the limits ``core.tickets.files``
checks. Text or at least one file is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from channels.web import forms
from channels.web.schemas import MessageBody
from core.errors import ActionRefused
from core.tickets import files
from core.values import AttachmentIn

PATHS = r"^/api/tickets/[^/]+/(reply|note)$"
"""The endpoints whose bodies may carry files (``channels.web.limits``)."""


@dataclass(frozen=True)
class Posted:
    """A reply or note as sent: its text, its files, and a lead's override reason."""

    text: str
    attachments: list[AttachmentIn] = field(default_factory=list)
    override_reason: str | None = None


async def read(request: Request) -> Posted:
    """The reply or note in ``request``'s body (a FastAPI dependency)."""
    kind = request.headers.get("content-type", "")
    raw = await request.body()
    form = kind.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded"))
    if form:
        multipart = kind.lower().startswith("multipart/")
        sent = forms.multipart(kind, raw) if multipart else forms.urlencoded(raw)
        posted = Posted(
            text=sent.fields.get("text", ""),
            attachments=[files.named(f.filename, f.content_type, f.data) for f in sent.files],
            override_reason=sent.get("override_reason") or None,
        )
    else:
        if not raw.strip():
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "missing"}])
        try:
            body = MessageBody.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from None
        posted = Posted(
            text=body.text,
            attachments=[
                files.named(f.filename, f.content_type, f.content_base64) for f in body.attachments
            ],
            override_reason=body.override_reason,
        )
    if not posted.text.strip() and not posted.attachments:
        raise ActionRefused("field.text", "text is required (or at least one file)", kind="field")
    return posted


_FILE = {
    "type": "object",
    "required": ["filename", "content_base64"],
    "properties": {
        "filename": {"type": "string"},
        "content_type": {"type": "string"},
        "content_base64": {"type": "string", "format": "byte"},
    },
}
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "attachments": {"type": "array", "items": _FILE},
                        "override_reason": {"type": "string"},
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "override_reason": {"type": "string"},
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}
"""The request body as the API's OpenAPI document describes it."""
