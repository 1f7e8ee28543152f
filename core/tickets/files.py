"""An agent's files on a reply or a note: checked before anything is written, and
handed to the channel senders with the reply's delivery.

Files come from the JSON API (base64 or multipart), ``switchboard tickets reply
--attach`` and files shared in a ticket's Slack thread. ``check`` refuses the whole
reply, naming the file and the reason, when one of them cannot go (nothing is
written, so nothing is half sent and the agent can send it again): more files than
``ctx.max_attachments``, a file over ``ctx.max_attachment_bytes`` or over what the
client's channel carries (``ctx.file_limits``), an empty file, or a type clients
must not be sent (programs and macro documents: ``thread.DANGEROUS_SUFFIXES``).

A public reply's files are listed on its delivery (``Outbound.extras["files"]``:
name, type, size and the SHA-256 of the bytes in the blob store), written by
``notices.tell``, which only ever gets public messages (``outbox.to_client`` raises
for any other kind): an internal note's files have no way onto a delivery. The
senders read the bytes back with ``load``.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import blobs
from core.context import Context
from core.errors import ActionRefused, DeliveryError
from core.models import Attachment, Message
from core.tickets.thread import DANGEROUS_SUFFIXES
from core.values import AttachmentIn, Outbound, printable

FILES = "files"  # the key of an outbound's extras listing its files
REPLY_KEY = re.compile(r"^reply:(\d+)$")


@dataclass(frozen=True)
class OutFile:
    """A file a sender attaches: its name, type and bytes."""

    filename: str
    content_type: str
    data: bytes


def named(filename: str, content_type: str, data: bytes) -> AttachmentIn:
    """A file as an agent sent it, its name cleaned (no folders a browser or a Slack
    client put before it, no control characters) and its type guessed from the name
    when none was given."""
    name = printable(filename).replace("\\", "/").rsplit("/", 1)[-1].strip() or "attachment"
    kind = (content_type or "").split(";")[0].strip().lower()
    if not kind or kind == "application/octet-stream":
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return AttachmentIn(filename=name[:300], content_type=kind[:200], data=data)


def _refuse(rule: str, message: str) -> ActionRefused:
    return ActionRefused(rule, message, kind="field")


def check(ctx: Context, files: Sequence[AttachmentIn], *, channel: str | None) -> None:
    """Raise ``ActionRefused`` naming the first file that cannot go, and why.

    ``channel`` is where the reply goes (None for an internal note: it goes nowhere,
    so only the store's limits and the count apply)."""
    if len(files) > ctx.max_attachments:
        raise _refuse(
            "attachment.too_many",
            f"{len(files)} files; a message takes at most {ctx.max_attachments} "
            "(SWITCHBOARD_MAX_ATTACHMENTS): send the rest in another reply",
        )
    limit = ctx.file_limits.get(channel or "")
    for item in files:
        name = item.filename
        if item.length == 0:
            raise _refuse("attachment.empty", f"'{name}' is empty: nothing to send")
        if item.length > ctx.max_attachment_bytes:
            raise _refuse(
                "attachment.too_large",
                f"'{name}' is {item.length} bytes; files are kept up to "
                f"{ctx.max_attachment_bytes} bytes (SWITCHBOARD_MAX_ATTACHMENT_BYTES): "
                "send a smaller file or a link to it",
            )
        if channel is None:
            continue
        if name.lower().endswith(DANGEROUS_SUFFIXES):
            raise _refuse(
                "attachment.type_refused",
                f"'{name}' is a program or a document with macros, which is never sent to "
                "clients: put it in an archive or share a link to it",
            )
        if limit == 0:
            raise _refuse(
                "attachment.channel",
                f"the client is answered on {channel}, where Switchboard cannot send files: "
                f"'{name}' was not sent; answer without it, or link to it",
            )
        if limit is not None and item.length > limit:
            raise _refuse(
                "attachment.too_large",
                f"'{name}' is {item.length} bytes; {channel} carries files up to {limit} "
                "bytes: send a smaller file or a link to it",
            )


def listed(session: Session, message_id: int) -> list[dict[str, Any]]:
    """The files of a public reply as its delivery lists them (the kept ones)."""
    return [
        {
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
        }
        for a in session.execute(
            select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.id)
        ).scalars()
        if not (a.flagged or "").startswith("not kept")
    ]


def load(ctx: Context, out: Outbound) -> list[OutFile]:
    """The files ``out`` carries, with their bytes from the blob store.

    Raises ``DeliveryError`` (permanent) when one is no longer stored: sending the
    reply without it would tell the client less than the agent wrote."""
    items: list[dict[str, Any]] = list(out.extras.get(FILES) or [])
    with ctx.db.reading() as session:
        if not items and FILES not in out.extras:  # a reply queued before files were listed
            match = REPLY_KEY.match(out.key)
            message = session.get(Message, int(match.group(1))) if match else None
            if message is not None and message.kind == "public" and message.direction == "out":
                items = listed(session, message.id)
        found = []
        for item in items:
            data = blobs.get(session, str(item["sha256"]))
            if data is None:
                raise DeliveryError(
                    f"the file '{item['filename']}' of this reply is no longer stored",
                    permanent=True,
                )
            found.append(OutFile(str(item["filename"]), str(item["content_type"]), data))
    return found
