"""A ticket's thread: the messages on it, their files, and who takes part.

``Entry`` is what a change adds to the thread (a client's message, a public reply,
an internal note, a system line); ``add`` writes it with its attachments. Files
are kept in the content-addressed store unless there are too many, they are too
large (the original message still has them), or their type is dangerous (kept,
flagged for the agent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import blobs
from core.context import Context
from core.models import Attachment, Identity, Message, Participant, Ticket
from core.values import AttachmentIn

DANGEROUS_SUFFIXES = (
    ".exe",
    ".bat",
    ".cmd",
    ".com",
    ".scr",
    ".js",
    ".vbs",
    ".ps1",
    ".jar",
    ".msi",
    ".dll",
    ".lnk",
    ".hta",
    ".docm",
    ".xlsm",
    ".iso",
)


@dataclass(frozen=True)
class Entry:
    """A message for a ticket's thread, not yet written: its ``Message`` columns, and
    its files.

    ``kind`` is ``public`` (the client sees it), ``internal`` (a note: it never
    leaves) or ``system``; ``direction`` is ``in`` (from the client) or ``out``.
    """

    kind: str
    direction: str
    channel: str
    body_text: str
    body_html: str | None = None
    author_contact_id: int | None = None
    author_identity_id: int | None = None  # which of the contact's addresses wrote it
    author_agent_id: int | None = None
    external_id: str | None = None
    inbound_record_id: int | None = None
    attachments: Sequence[AttachmentIn] = ()


def from_client(
    identity: Identity,
    text: str,
    html: str | None,
    attachments: Sequence[AttachmentIn],
    external_id: str | None,
    inbound_record_id: int | None,
) -> Entry:
    """A client's message, as it came in from ``identity`` (on its channel)."""
    return Entry(
        kind="public",
        direction="in",
        channel=identity.kind,
        body_text=text,
        body_html=html,
        author_contact_id=identity.contact_id,
        author_identity_id=identity.id,
        external_id=external_id,
        inbound_record_id=inbound_record_id,
        attachments=attachments,
    )


def add(ctx: Context, session: Session, ticket: Ticket, entry: Entry) -> Message:
    """Write ``entry`` on ``ticket`` with its files; the message has its id on return."""
    columns = {f.name: getattr(entry, f.name) for f in fields(entry) if f.name != "attachments"}
    message = Message(ticket_id=ticket.id, created_at=ctx.now(), **columns)
    session.add(message)
    session.flush()
    for index, item in enumerate(entry.attachments):
        flagged = _flag(ctx, index, item)
        kept = not (flagged or "").startswith("not kept")
        if item.stored:  # fetched into the blob store before the message was decided
            digest = item.stored
        elif kept:
            digest = blobs.put(session, item.data)
        else:
            digest = hashlib.sha256(item.data).hexdigest()
        session.add(
            Attachment(
                message_id=message.id,
                filename=item.filename[:300],
                content_type=item.content_type[:200],
                size=item.length,
                sha256=digest,
                inline=item.inline,
                flagged=flagged,
            )
        )
    return message


def _flag(ctx: Context, index: int, item: AttachmentIn) -> str | None:
    """Why a file needs a word beside it, or None."""
    if index >= ctx.max_attachments:
        return (
            f"not kept: more than {ctx.max_attachments} attachments (the original message has it)"
        )
    if item.length > ctx.max_attachment_bytes:
        return (
            f"not kept: larger than {ctx.max_attachment_bytes} bytes (the original message has it)"
        )
    if item.filename.lower().endswith(DANGEROUS_SUFFIXES):
        return "dangerous file type: open with care"
    return None


def ensure_participant(session: Session, ticket: Ticket, contact_id: int, role: str = "cc") -> None:
    """Add the contact to the ticket's participants, unless they are one already."""
    exists = session.execute(
        select(Participant.id).where(
            Participant.ticket_id == ticket.id, Participant.contact_id == contact_id
        )
    ).first()
    if not exists:
        session.add(Participant(ticket_id=ticket.id, contact_id=contact_id, role=role))
