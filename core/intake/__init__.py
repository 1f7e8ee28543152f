"""The one entry point for inbound messages: store raw, then decide, then change.

1. ``receive`` commits the raw payload (unique per channel and external id) and
   hands the record to a worker. A channel answers its caller only after this.
2. ``process`` parses the raw payload with the channel's parser into an
   ``Inbound``, runs the rule chain and applies the decision in one transaction.
   Anything that fails is parked with its reason: listed, and retryable.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from core import audit, contacts, outbox
from core.contacts import codes
from core.context import Context
from core.db import AFTER_COMMIT, after_commit
from core.errors import IntakeError, NotFound
from core.intake.rules import APPEND, DROP, LINK, OPEN, PARK, decide
from core.models import Agent, InboundRecord, OutboxDelivery, Ticket
from core.principals import system
from core.tickets import actions
from core.values import AttachmentIn, Inbound

log = logging.getLogger(__name__)

PENDING, DONE, DROPPED, PARKED = "pending", "done", "dropped", "parked"


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
) -> Received:
    """Commit the raw payload; the same (channel, external id) twice is one record.

    Raises whatever the database raises if it cannot store (the caller then answers
    with a temporary failure, so the sender retries: nothing is half-stored).
    """
    external_id = external_id[:998]
    try:
        with ctx.db.transaction() as session:
            record = InboundRecord(
                channel=channel,
                external_id=external_id,
                raw=raw,
                meta=meta or {},
                transport=transport,
                received_at=ctx.now(),
            )
            session.add(record)
            session.flush()
            record_id = record.id
            after_commit(session, lambda: ctx.dispatcher.send("process_inbound", record_id))
        return Received(record_id, False, handed_over=True)
    except IntegrityError:
        with ctx.db.reading() as session:
            existing = session.execute(
                select(InboundRecord.id).where(
                    InboundRecord.channel == channel, InboundRecord.external_id == external_id
                )
            ).scalar_one_or_none()
        if existing is None:
            raise
        log.info("duplicate %s message %s dropped (record %s)", channel, external_id[:80], existing)
        return Received(existing, True)


@dataclass(frozen=True)
class Incoming:
    """One raw payload for ``receive_many``."""

    channel: str
    external_id: str
    raw: bytes
    meta: dict[str, Any]
    transport: str = ""


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
        item = items[0]
        return [
            receive(
                ctx,
                channel=item.channel,
                external_id=item.external_id,
                raw=item.raw,
                meta=item.meta,
                transport=item.transport,
            )
        ]
    keys = [(i.channel, i.external_id[:998]) for i in items]
    try:
        with ctx.db.transaction() as session:
            known: dict[tuple[str, str], int] = {}
            for channel in {c for c, _ in keys}:
                ids = [e for c, e in keys if c == channel]
                known.update(
                    ((channel, e), rid)
                    for rid, e in session.execute(
                        select(InboundRecord.id, InboundRecord.external_id).where(
                            InboundRecord.channel == channel, InboundRecord.external_id.in_(ids)
                        )
                    ).all()
                )
            new: dict[tuple[str, str], InboundRecord] = {}
            for item, key in zip(items, keys, strict=True):
                if key not in known and key not in new:
                    new[key] = InboundRecord(
                        channel=item.channel,
                        external_id=key[1],
                        raw=item.raw,
                        meta=item.meta or {},
                        transport=item.transport,
                        received_at=ctx.now(),
                    )
            session.add_all(new.values())
            session.flush()
            fresh = {key: record.id for key, record in new.items()}
            record_ids = list(fresh.values())
            if record_ids and hand_over:
                after_commit(session, lambda: hand_over_records(ctx, record_ids))
    except IntegrityError:  # each on its own, and handed over as receive does
        return [
            receive(
                ctx,
                channel=i.channel,
                external_id=i.external_id,
                raw=i.raw,
                meta=i.meta,
                transport=i.transport,
            )
            for i in items
        ]
    results, given = [], set()
    for key in keys:
        if key in fresh and key not in given:
            given.add(key)
            results.append(Received(fresh[key], False, handed_over=hand_over))
        else:
            results.append(Received(known.get(key) or fresh[key], True))
    return results


BATCH = 20  # records decided per job (and per transaction) at most


def hand_over_records(ctx: Context, record_ids: list[int]) -> None:
    """Send stored records to the workers, ``BATCH`` per job."""
    for start in range(0, len(record_ids), BATCH):
        ctx.dispatcher.send(
            "process_inbound", ",".join(str(i) for i in record_ids[start : start + BATCH])
        )


HELD_KINDS = ("ack",)  # what a caller of process_many(held=...) sends itself


def process_many(ctx: Context, record_ids: Sequence[int], held: list[int] | None = None) -> None:
    """Decide several pending records in one transaction, each in a savepoint:
    a record that fails is parked alone, the others still commit. If the
    database fails the transaction (a deadlock between two batches, say), it is
    rolled back and each record is processed on its own, as ``process`` does.

    With ``held``, the acknowledgements the batch queued are not handed to the
    ``deliver`` job but their ids added to ``held`` after the commit, for the
    caller to send at once (rows it never gets to stay pending for the sweep)."""
    rows: list[OutboxDelivery] | None = None
    try:
        with ctx.db.transaction() as session:
            rows = outbox.hold(session, HELD_KINDS) if held is not None else None
            # Lock the batch's records in one statement, in id order (as every batch does).
            loaded = {
                r.id: r
                for r in session.execute(
                    select(InboundRecord)
                    .where(InboundRecord.id.in_(record_ids))
                    .order_by(InboundRecord.id)
                    .with_for_update()
                ).scalars()
            }
            for record_id in record_ids:
                record = loaded.get(record_id)
                if record is None or record.status != PENDING:
                    continue
                callbacks = list(session.info.get(AFTER_COMMIT, []))
                queued = len(rows) if rows is not None else 0
                try:
                    with session.begin_nested():
                        record.attempts += 1
                        _decide_and_apply(ctx, session, record)
                except DBAPIError:  # a deadlock, a lost connection: not this record's fault
                    raise
                except Exception as exc:  # ours, not the sender's: keep it, say why, alert
                    log.exception("inbound record %s could not be processed; parked", record_id)
                    session.info[AFTER_COMMIT] = callbacks  # nothing rolled back may be sent
                    if rows is not None:
                        del rows[queued:]
                    record = session.get(InboundRecord, record_id, with_for_update=True)
                    assert record is not None
                    record.attempts += 1
                    _park_failed(ctx, record, exc)
        if held is not None and rows:  # committed: they have their ids
            held.extend(row.id for row in rows)
    except Exception:
        log.warning(
            "a batch of %d inbound records could not be committed; processing them one by one",
            len(record_ids),
            exc_info=True,
        )
        for record_id in record_ids:
            try:
                process(ctx, record_id)
            except NotFound:
                log.warning("inbound record %s does not exist", record_id)


def process(ctx: Context, record_id: int, *, retry: bool = False) -> InboundRecord:
    """Decide and apply one stored inbound record; idempotent for finished records."""
    try:
        with ctx.db.transaction() as session:
            record = session.get(InboundRecord, record_id, with_for_update=True)
            if record is None:
                raise NotFound(f"inbound record {record_id} does not exist")
            if record.status != PENDING and not (retry and record.status == PARKED):
                return record
            record.attempts += 1
            _decide_and_apply(ctx, session, record)
            return record
    except NotFound:
        raise
    except Exception as exc:  # ours, not the sender's: keep it, say why, alert
        log.exception("inbound record %s could not be processed; parked", record_id)
        with ctx.db.transaction() as session:
            record = session.get(InboundRecord, record_id, with_for_update=True)
            assert record is not None
            _park_failed(ctx, record, exc)
            return record


def _park_failed(ctx: Context, record: InboundRecord, exc: Exception) -> None:
    record.status = PARKED
    record.outcome = PARK
    record.rules_fired = ["error"]
    record.reason = f"processing failed: {type(exc).__name__}: {exc}"[:2000]
    record.decided_at = ctx.now()


def _decide_and_apply(ctx: Context, session: Session, record: InboundRecord) -> None:
    parser = ctx.parsers.get(record.channel, inbound_from_json)
    try:
        inbound = parser(record.raw, record.meta)
    except IntakeError as exc:
        _park(ctx, session, record, "unparseable", str(exc))
        return
    decision = decide(ctx, session, inbound)
    if decision.outcome == PARK:
        _park(ctx, session, record, decision.rule, decision.reason, ticket_id=decision.ticket_id)
    elif decision.outcome == DROP:
        record.status = DROPPED
    elif decision.outcome == LINK:
        decision.reason = codes.answer(ctx, session, inbound)
        record.status = DONE
    elif decision.outcome == APPEND:
        ticket = session.get(Ticket, decision.ticket_id, with_for_update=True)
        assert ticket is not None
        identity = contacts.find_or_create(
            session, inbound.channel, inbound.sender, inbound.sender_name
        )
        message = actions.client_message(
            ctx,
            session,
            ticket,
            identity,
            text=inbound.text,
            html=inbound.html,
            attachments=inbound.attachments,
            external_id=inbound.external_id,
            inbound_record_id=record.id,
        )
        record.status, record.ticket_id, record.message_id = DONE, ticket.id, message.id
    elif decision.outcome == OPEN:
        sender = (inbound.sender, inbound.sender_name)
        if inbound.on_behalf_of and _may_forward(session, inbound):
            sender = inbound.on_behalf_of
        ticket = actions.open_ticket(
            ctx,
            session,
            system("intake"),
            subject=inbound.subject,
            text=inbound.text,
            requester=(inbound.channel, sender[0], sender[1]),
            html=inbound.html,
            attachments=inbound.attachments,
            linked_from_id=decision.linked_from,
            inbound_record_id=record.id,
            external_id=inbound.external_id,
        )
        record.status, record.ticket_id = DONE, ticket.id
    if decision.outcome != PARK:  # set last, so the record is written once, at the next flush
        record.rules_fired = [decision.rule, *decision.notes]
        record.outcome = decision.outcome
        record.reason = decision.reason
        record.decided_at = ctx.now()
    audit.record(
        session,
        actor="system:intake",
        action="intake",
        ticket_id=record.ticket_id,
        data={
            "record": record.id,
            "channel": record.channel,
            "outcome": decision.outcome,
            "rules": record.rules_fired,
            "reason": decision.reason,
        },
        now=ctx.now(),
    )


def _may_forward(session: Session, inbound: Inbound) -> bool:
    """Only an agent's forwarded mail opens a ticket for someone else (email: by address)."""
    if inbound.channel != "email":
        return True
    return (
        session.execute(
            select(Agent.id).where(
                Agent.email == inbound.sender.strip().lower(), Agent.active.is_(True)
            )
        ).first()
        is not None
    )


def _park(
    ctx: Context,
    session: Session,
    record: InboundRecord,
    rule: str,
    reason: str,
    ticket_id: int | None = None,
) -> None:
    record.status = PARKED
    record.outcome = PARK
    record.rules_fired = [rule]
    record.reason = reason
    record.decided_at = ctx.now()
    if ticket_id:
        record.ticket_id = ticket_id
    log.info("inbound record %s parked by rule %s: %s", record.id, rule, reason)


def retry(ctx: Context, record_id: int) -> InboundRecord:
    """Run a parked record through the chain again (after a fix, or a changed rule)."""
    return process(ctx, record_id, retry=True)
