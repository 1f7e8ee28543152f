"""Storing what arrives: one inbound record per (channel, external id), raw bytes kept.

``receive`` and ``receive_many`` commit the raw payload (the same channel and
external id twice is one record) and hand new records to the workers; the front
door (``core.intake.frontdoor``) uses ``receive_many`` to store many at once.

A channel may give a payload a second key, its ``written_key``: one taken from what
the author wrote rather than from how it travelled, for a payload that can reach us
under two external ids (email: a relay that adds a Message-ID). A payload whose
external id or written key is already stored for its channel is a duplicate.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.context import Context
from core.db import after_commit
from core.errors import IntakeError
from core.models import InboundRecord
from core.values import AttachmentIn, DeliveryReport, FailedRecipient, Inbound

log = logging.getLogger(__name__)

EVENT = "event"  # the outcome of a record a channel handled as its own event


def storable(text: str, limit: int) -> str:
    """``text`` as every database can hold it: at most ``limit`` characters, NULs and
    what is not text in UTF-8 (a lone surrogate a sender put in a JSON string) replaced."""
    return text[:limit].replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def storable_id(external_id: str) -> str:
    """An external id as the database can hold it (at most 998 characters)."""
    return storable(external_id, 998)


WRITTEN_KEY_LIMIT = 80  # characters of a written key the database holds


def storable_key(written_key: str | None) -> str | None:
    """A written key as the database can hold it; None (or empty) is no key."""
    return storable(written_key, WRITTEN_KEY_LIMIT) if written_key else None


def _same(channel: str, external_id: str, written_key: str | None) -> ColumnElement[bool]:
    """Where a record of ``channel`` has this external id or this written key."""
    same: ColumnElement[bool] = InboundRecord.external_id == external_id
    if written_key is not None:
        same = or_(same, InboundRecord.written_key == written_key)
    return and_(InboundRecord.channel == channel, same)


# A neutral JSON encoding, for channels whose payload is already neutral (API, fake).


def inbound_to_json(inbound: Inbound) -> bytes:
    data = asdict(inbound)
    data["attachments"] = [
        {**a, "data": base64.b64encode(a["data"]).decode()} for a in data["attachments"]
    ]
    if inbound.received_at:
        data["received_at"] = inbound.received_at.isoformat()
    return json.dumps(data).encode()


def inbound_from_json(raw: bytes, meta: dict[str, Any]) -> Inbound:
    try:
        data = json.loads(raw)
        data["attachments"] = tuple(
            AttachmentIn(
                a["filename"],
                a["content_type"],
                base64.b64decode(a["data"]),
                a.get("inline", False),
            )
            for a in data.get("attachments", [])
        )
        data["references"] = tuple(data.get("references", ()))
        if data.get("on_behalf_of"):
            data["on_behalf_of"] = tuple(data["on_behalf_of"])
        if data.get("received_at"):
            data["received_at"] = datetime.fromisoformat(data["received_at"])
        data["copied"] = tuple(data.get("copied", ()))
        if data.get("report"):
            report = data["report"]
            data["report"] = DeliveryReport(
                report["kind"],
                tuple(FailedRecipient(**f) for f in report.get("failed", ())),
                report.get("about"),
                report.get("permanent_notice", True),
            )
        return Inbound(**data)
    except (ValueError, KeyError, TypeError) as exc:
        raise IntakeError(f"not a valid neutral inbound payload: {exc}") from exc


@dataclass(frozen=True)
class Received:
    record_id: int
    duplicate: bool
    handed_over: bool = False  # a new record already sent to the workers


def receive(
    ctx: Context,
    *,
    channel: str,
    external_id: str,
    raw: bytes,
    meta: dict[str, Any] | None = None,
    transport: str = "",
    written_key: str | None = None,
) -> Received:
    """Commit the raw payload; the same (channel, external id) twice is one record, and
    so is the same (channel, written key) when the channel gives one.

    Raises whatever the database raises if it cannot store (the caller then answers
    with a temporary failure, so the sender retries: nothing is half-stored).
    """
    external_id = storable_id(external_id)
    written_key = storable_key(written_key)
    try:
        with ctx.db.transaction() as session:
            item = Incoming(channel, external_id, raw, meta or {}, transport, written_key)
            record = _new_record(ctx, item, external_id, written_key)
            session.add(record)
            session.flush()
            record_id = record.id
            after_commit(session, lambda: ctx.dispatcher.send("process_inbound", record_id))
        return Received(record_id, False, handed_over=True)
    except IntegrityError:
        with ctx.db.reading() as session:
            existing = session.execute(
                select(InboundRecord.id)
                .where(_same(channel, external_id, written_key))
                .order_by(InboundRecord.id)
                .limit(1)
            ).scalar_one_or_none()
        if existing is None:
            raise
        log.info("duplicate %s message %s dropped (record %s)", channel, external_id[:80], existing)
        return Received(existing, True)


@dataclass(frozen=True)
class Incoming:
    """One raw payload for ``receive_many``; ``written_key`` is its second key, if the
    channel gives one (see the module's docstring)."""

    channel: str
    external_id: str
    raw: bytes
    meta: dict[str, Any]
    transport: str = ""
    written_key: str | None = None


def receive_many(
    ctx: Context, items: Sequence[Incoming], *, hand_over: bool = True
) -> list[Received]:
    """``receive`` for several payloads in one transaction (group commit).

    Payloads already stored, or repeated within ``items``, are duplicates of the
    first record. The new records go to the workers as one job after the commit,
    unless ``hand_over`` is False: the caller then hands them over itself
    (``hand_over_records``), so that it can gather several commits into one job.
    If a concurrent writer stored one of them first, each is received on its own.
    """
    if len(items) == 1 and hand_over:
        return [_receive_one(ctx, items[0])]
    keys = [(i.channel, storable_id(i.external_id), storable_key(i.written_key)) for i in items]
    try:
        with ctx.db.transaction() as session:
            known = _stored(session, keys)
            new: dict[tuple[str, str, str], InboundRecord] = {}  # by each of its keys
            # per item: the record it is or repeats (a new one, or a stored one's id), and
            # whether it repeats it
            placed: list[tuple[InboundRecord | int, bool]] = []
            for item, (channel, external_id, written_key) in zip(items, keys, strict=True):
                its = [(channel, "id", external_id)]
                if written_key:
                    its.append((channel, "key", written_key))
                stored = next((known[k] for k in its if k in known), None)
                if stored is not None:
                    placed.append((stored, True))
                    continue
                again = next((new[k] for k in its if k in new), None)
                if again is not None:
                    placed.append((again, True))
                    continue
                record = _new_record(ctx, item, external_id, written_key)
                new.update(dict.fromkeys(its, record))
                placed.append((record, False))
            session.add_all(r for r, repeat in placed if not repeat)
            session.flush()
            results = [
                Received(r if isinstance(r, int) else r.id, repeat, not repeat and hand_over)
                for r, repeat in placed
            ]
            record_ids = [r.record_id for r in results if not r.duplicate]
            if record_ids and hand_over:
                after_commit(session, lambda: hand_over_records(ctx, record_ids))
    except IntegrityError:  # each on its own, and handed over as receive does
        return [_receive_one(ctx, i) for i in items]
    return results


def _new_record(
    ctx: Context, item: Incoming, external_id: str, written_key: str | None
) -> InboundRecord:
    """The record of ``item`` under its keys as stored (``storable_id``, ``storable_key``)."""
    return InboundRecord(
        channel=item.channel,
        external_id=external_id,
        written_key=written_key,
        raw=item.raw,
        meta=item.meta or {},
        transport=item.transport,
        received_at=ctx.now(),
    )


def _stored(
    session: Session, keys: Sequence[tuple[str, str, str | None]]
) -> dict[tuple[str, str, str], int]:
    """The records already stored under any of these keys, one query per channel:
    ``(channel, "id", external id)`` and ``(channel, "key", written key)`` -> record id."""
    known: dict[tuple[str, str, str], int] = {}
    for channel in dict.fromkeys(c for c, _, _ in keys):
        ids = [e for c, e, _ in keys if c == channel]
        written = [w for c, _, w in keys if c == channel and w is not None]
        same: ColumnElement[bool] = InboundRecord.external_id.in_(ids)
        if written:
            same = or_(same, InboundRecord.written_key.in_(written))
        for rid, external_id, written_key in session.execute(
            select(InboundRecord.id, InboundRecord.external_id, InboundRecord.written_key)
            .where(InboundRecord.channel == channel, same)
            .order_by(InboundRecord.id)
        ).all():
            known.setdefault((channel, "id", external_id), rid)
            if written_key is not None:
                known.setdefault((channel, "key", written_key), rid)
    return known


def _receive_one(ctx: Context, item: Incoming) -> Received:
    return receive(
        ctx,
        channel=item.channel,
        external_id=item.external_id,
        raw=item.raw,
        meta=item.meta,
        transport=item.transport,
        written_key=item.written_key,
    )


BATCH = 20  # records decided per job (and per transaction) at most


def hand_over_records(ctx: Context, record_ids: list[int]) -> None:
    """Send stored records to the workers, ``BATCH`` per job."""
    for start in range(0, len(record_ids), BATCH):
        ctx.dispatcher.send(
            "process_inbound", ",".join(str(i) for i in record_ids[start : start + BATCH])
        )
