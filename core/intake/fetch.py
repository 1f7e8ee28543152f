"""Fetching the files a stored payload only names, before it is decided.

A chat platform's webhook names its files (a Telegram ``file_id``, a WhatsApp media
id) instead of carrying them. Before a batch is decided, the channel's ``Fetcher``
downloads them outside any transaction (a download may take seconds, and no
database lock is held meanwhile); the bytes go to the blob store and the record's
meta notes, per file id, what was stored or why it was not. The channel's parser
then hands the files to the ticket with ``attached``. A record is fetched once:
one whose meta has ``fetched`` is not asked again (a worker that died after the
download and before the decision does not download twice). A payload naming no
file is not noted at all (its fetcher, asked again, names none again).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from core import blobs
from core.channel import Fetched
from core.context import Context
from core.models import InboundRecord, InboundStatus
from core.values import AttachmentIn

log = logging.getLogger(__name__)

FETCHED = "fetched"


def prefetch(ctx: Context, record_ids: Sequence[int]) -> None:
    """Download the files of the pending records among ``record_ids`` whose channel
    has a fetcher and which were not fetched yet."""
    if not ctx.fetchers or not record_ids:
        return
    with ctx.db.reading() as session:
        rows = session.execute(
            select(InboundRecord.id, InboundRecord.channel, InboundRecord.raw, InboundRecord.meta)
            .where(
                InboundRecord.id.in_(list(record_ids)),
                InboundRecord.status == InboundStatus.PENDING,
                InboundRecord.channel.in_(list(ctx.fetchers)),
            )
            .order_by(InboundRecord.id)
        ).all()
    for record_id, channel, raw, meta in rows:
        if FETCHED in (meta or {}):
            continue
        try:
            files = ctx.fetchers[channel](raw, dict(meta or {}), ctx.max_attachment_bytes)
        except Exception as exc:  # the platform is down or refused: say so on the ticket
            log.warning("files of inbound record %s could not be fetched: %s", record_id, exc)
            files = [Fetched(ref="*", problem=f"could not be fetched: {exc}"[:500])]
        if files:  # a payload that names no file (most chat messages) costs no write
            _note(ctx, record_id, files)


def _note(ctx: Context, record_id: int, files: list[Fetched]) -> None:
    with ctx.db.transaction() as session:
        record = session.get(InboundRecord, record_id, with_for_update=True)
        if record is None or record.status != InboundStatus.PENDING:
            return
        notes: dict[str, Any] = {}
        for item in files:
            note: dict[str, Any] = {"filename": item.filename, "content_type": item.content_type}
            if item.data is None:
                note["problem"] = item.problem or "could not be fetched"
            elif len(item.data) > ctx.max_attachment_bytes:
                note["problem"] = f"larger than {ctx.max_attachment_bytes} bytes: not kept"
            else:
                note["sha256"], note["size"] = blobs.put(session, item.data), len(item.data)
            notes[item.ref] = note
        record.meta = {**(record.meta or {}), FETCHED: notes}


def attached(meta: dict[str, Any], ref: str, filename: str = "") -> AttachmentIn | str:
    """For a parser: the file ``ref`` as fetched, or the sentence saying why it is missing."""
    notes = meta.get(FETCHED) or {}
    note = notes.get(ref) or notes.get("*")
    if note is None:
        return "was not fetched"
    if "sha256" not in note:
        return str(note.get("problem") or "could not be fetched")
    return AttachmentIn(
        filename=filename or note.get("filename") or ref,
        content_type=note.get("content_type") or "application/octet-stream",
        stored=note["sha256"],
        size=int(note["size"]),
    )
