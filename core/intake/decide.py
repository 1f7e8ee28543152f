"""Deciding stored records: parse, run the rules, apply the outcome, or park.

``process_many`` decides a batch in one transaction (a savepoint per record only
when one of them fails); a channel's own events go to its event handler
(``ctx.event_handlers``) instead of the rules. Anything that fails is parked with its
reason: listed, and retryable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import core.intake.conversation as conversation
import core.intake.deliveryreports as deliveryreports
import core.intake.fetch as fetch
from core import audit, contacts, logfields, outbox
from core.contacts import codes
from core.context import Context
from core.db import AFTER_COMMIT
from core.errors import IntakeError, NotFound
from core.intake.records import EVENT, inbound_from_json
from core.intake.rules import APPEND, DROP, LINK, OPEN, PARK, Decision, decide
from core.models import Agent, InboundRecord, InboundStatus, OutboxDelivery, Ticket, TicketStatus
from core.principals import system
from core.tickets import fields
from core.tickets.conversation import client_message
from core.tickets.opening import open_ticket
from core.values import DeliveryReport, Inbound, cleaned

log = logging.getLogger(__name__)

HELD_KINDS = ("ack",)  # what a caller of process_many(held=...) sends itself

# On SQLite, how long a batch holds the write lock before it makes way for the front door
# (commits what it decided, goes on in a new transaction). Making way after every record
# cut an SMTP burst into transactions of about three records, at ~0.7 ms more CPU per
# message; 20 ms keeps most of a batch's saving and adds at most that to the answer of
# a message arriving meanwhile (bench/smtp_intake.py, bench/webhook_intake.py).
MAKE_WAY_AFTER = 0.02


def process_many(ctx: Context, record_ids: Sequence[int], held: list[int] | None = None) -> None:
    """Decide several pending records in one transaction. A record that fails is
    parked alone and the others still commit: the batch is first decided without a
    savepoint per record (each costs a flush and two statements, about a third of
    deciding a record); if one fails, that transaction is rolled back and the batch
    decided again with a savepoint per record. If the database fails the
    transaction (a deadlock between two batches, say), it is rolled back and each
    record is processed on its own, as ``process`` does.

    On SQLite (one writer at a time), the batch commits early when the front door is
    waiting to store what just arrived and the transaction has held the lock for
    ``MAKE_WAY_AFTER``, and goes on in a new transaction: a client waits for at most
    that and one record's decision, not a whole batch's.

    With ``held``, the acknowledgements the batch queued are not handed to the
    ``deliver`` job but their ids added to ``held`` after the commit, for the
    caller to send at once (rows it never gets to stay pending for the sweep)."""
    fetch.prefetch(ctx, record_ids)  # downloads happen before any lock is taken
    left = list(record_ids)
    while left:
        left = left[_decide_batch(ctx, left, held) :]


class _OneFailed(Exception):
    """A record of a batch decided without savepoints failed: decide it again, carefully."""


def _decide_batch(ctx: Context, record_ids: list[int], held: list[int] | None) -> int:
    """Decide records from the start of ``record_ids`` in one transaction; returns how
    many were dealt with (all of them, unless the front door asked for the lock)."""
    try:
        try:
            return _decide_in_one(ctx, record_ids, held, careful=False)
        except _OneFailed:
            return _decide_in_one(ctx, record_ids, held, careful=True)
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
        return len(record_ids)


def _decide_in_one(
    ctx: Context, record_ids: list[int], held: list[int] | None, *, careful: bool
) -> int:
    """One transaction of ``_decide_batch``. Not ``careful``: the first record that
    fails raises ``_OneFailed`` and nothing is committed. ``careful``: each record in
    a savepoint, and one that fails is parked with its reason."""
    rows: list[OutboxDelivery] | None = None
    taken = len(record_ids)
    with ctx.db.transaction() as session:
        began = time.monotonic()
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
        for n, record_id in enumerate(record_ids):
            if n and time.monotonic() - began >= MAKE_WAY_AFTER and ctx.db.writer_waiting():
                taken = n  # commit what is decided; the rest in the next transaction
                break
            record = loaded.get(record_id)
            if record is None or record.status != InboundStatus.PENDING:
                continue
            callbacks = list(session.info.get(AFTER_COMMIT, []))
            queued = len(rows) if rows is not None else 0
            with logfields.about(channel=record.channel):
                try:
                    with session.begin_nested() if careful else nullcontext():
                        _decide_and_apply(ctx, session, record, careful=careful)
                        record.attempts += 1  # after: the record is written once, at the end
                except DBAPIError:  # a deadlock, a lost connection: not this record's fault
                    raise
                except Exception as exc:  # ours, not the sender's: keep it, say why, alert
                    if not careful:  # nothing to roll back to but the batch: again, carefully
                        raise _OneFailed(record_id) from exc
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
    return taken


def process(ctx: Context, record_id: int, *, retry: bool = False) -> InboundRecord:
    """Decide and apply one stored inbound record; idempotent for finished records."""
    fetch.prefetch(ctx, [record_id])
    try:
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                with ctx.db.transaction() as session:
                    record = session.get(InboundRecord, record_id, with_for_update=True)
                    if record is None:
                        raise NotFound(f"inbound record {record_id} does not exist")
                    if record.status != InboundStatus.PENDING and not (
                        retry and record.status == InboundStatus.PARKED
                    ):
                        return record
                    _decide_and_apply(ctx, session, record, careful=True)
                    record.attempts += 1  # after: the record is written once, at the end
                    return record
            except DBAPIError as exc:  # a deadlock with another worker: rolled back, again
                if attempt == DEADLOCK_TRIES or not _lost_a_race(exc):
                    raise
                log.info("inbound record %s lost a race with another worker; again", record_id)
        raise AssertionError("unreachable")
    except NotFound:
        raise
    except Exception as exc:  # ours, not the sender's: keep it, say why, alert
        log.exception("inbound record %s could not be processed; parked", record_id)
        with ctx.db.transaction() as session:
            record = session.get(InboundRecord, record_id, with_for_update=True)
            assert record is not None
            _park_failed(ctx, record, exc)
            return record


DEADLOCK_TRIES = 3
RACES = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure


def _lost_a_race(exc: DBAPIError) -> bool:
    """Whether the database rolled the transaction back for another's sake (a deadlock):
    the same work again will go through."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in RACES


def _machine_speed(
    ctx: Context, session: Session, inbound: Inbound, decision: Decision
) -> float | None:
    """Note a message that answered our automatic one within seconds (the rule
    ``machine_speed`` parks the next one that does): it gets no acknowledgement."""
    seconds = conversation.answered_automatic_within(ctx, session, inbound)
    if seconds is not None:
        decision.notes.append(
            f"{conversation.MACHINE_SPEED}: answered our automatic message within "
            f"{seconds:.0f} s; no acknowledgement"
        )
    return seconds


def reached(inbound: Inbound) -> tuple[str, ...]:
    """Who the conversation reached: the To/Cc of a mail, or the chat it was written in."""
    return (
        (*inbound.copied, conversation.chat_address(inbound.chat))
        if inbound.chat
        else inbound.copied
    )


def _park_failed(ctx: Context, record: InboundRecord, exc: Exception) -> None:
    record.status = InboundStatus.PARKED
    record.outcome = PARK
    record.rules_fired = ["error"]
    record.reason = f"processing failed: {type(exc).__name__}: {exc}"[:2000]
    record.decided_at = ctx.now()


def _decide_and_apply(
    ctx: Context, session: Session, record: InboundRecord, *, careful: bool
) -> None:
    """Decide ``record`` and apply the outcome. Not ``careful`` (a batch without
    savepoints): an event the channel finds odd raises, and the batch is decided again."""
    handler = ctx.event_handlers.get(record.channel)
    if handler is not None:
        try:
            # What the handler wrote before it found the payload odd goes with the savepoint.
            with session.begin_nested() if careful else nullcontext():
                done = handler(session, record)
        except IntakeError as exc:
            if not careful:
                raise
            _park(ctx, session, record, "unparseable", str(exc))
            return
        if done is not None:  # the channel's own event (a staff action), not a client message
            record.status, record.outcome = InboundStatus.DONE, EVENT
            record.rules_fired, record.reason = [EVENT], done[:2000]
            record.decided_at = ctx.now()
            return
    parser = ctx.parsers.get(record.channel, inbound_from_json)
    try:
        inbound = cleaned(parser(record.raw, record.meta))
    except IntakeError as exc:
        _park(ctx, session, record, "unparseable", str(exc))
        return
    decision = decide(ctx, session, inbound)
    if decision.outcome == PARK:
        if decision.outbox_id is not None:  # a bounce or delay notice about one of our deliveries
            row = session.get(OutboxDelivery, decision.outbox_id, with_for_update=True)
            assert row is not None
            report = inbound.report or DeliveryReport("bounce", about=inbound.bounce_for)
            decision.reason = deliveryreports.apply(
                session, row, report, record_id=record.id, now=ctx.now()
            )
        _park(ctx, session, record, decision.rule, decision.reason, ticket_id=decision.ticket_id)
    elif decision.outcome == DROP:
        record.status = InboundStatus.DROPPED
    elif decision.outcome == LINK:
        decision.reason = codes.answer(ctx, session, inbound)
        record.status = InboundStatus.DONE
    elif decision.outcome == APPEND:
        ticket = session.get(Ticket, decision.ticket_id, with_for_update=True)
        assert ticket is not None
        _machine_speed(ctx, session, inbound, decision)
        _wrote_in(ctx, session, inbound, ticket.id)
        identity = contacts.find_or_create(
            session, inbound.channel, inbound.sender, inbound.sender_name
        )
        message = client_message(
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
        record.status, record.ticket_id, record.message_id = (
            InboundStatus.DONE,
            ticket.id,
            message.id,
        )
        conversation.remember(session, ticket.id, inbound.channel, reached(inbound), ctx.now())
    elif decision.outcome == OPEN:
        _wrote_in(ctx, session, inbound, None)
        sender = (inbound.sender, inbound.sender_name)
        if inbound.on_behalf_of and _may_forward(session, inbound):
            sender = inbound.on_behalf_of
        route = ctx.policy.intake_rule_for(inbound)
        if route is not None:
            decision.notes.append(f"operator:{route.name}")
        if inbound.no_auto_reply:
            decision.notes.append(f"no acknowledgement: {inbound.no_auto_reply}")
        quick = _machine_speed(ctx, session, inbound, decision)
        ticket = open_ticket(
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
            priority=route.priority if route else None,
            queue=route.queue if route else None,
            category=route.category if route else None,
            # RFC 3834: no automatic answer to bulk or list mail; none to a machine's speed
            send_ack=not inbound.no_auto_reply and quick is None,
        )
        record.status, record.ticket_id = InboundStatus.DONE, ticket.id
        conversation.remember(session, ticket.id, inbound.channel, reached(inbound), ctx.now())
    if inbound.location and decision.outcome in (APPEND, OPEN) and record.ticket_id is not None:
        ticket = session.get(Ticket, record.ticket_id, with_for_update=True)
        assert ticket is not None
        if ticket.status != TicketStatus.CLOSED:  # a place the client shared: where it is
            fields.link(ctx, session, system("intake"), ticket, location=inbound.location[:300])
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


def _wrote_in(ctx: Context, session: Session, inbound: Inbound, ticket_id: int | None) -> None:
    """A person wrote from this address, so it works: automatic messages (this one's
    acknowledgement too) may reach it again after a bounce."""
    identity = contacts.find_identity(session, inbound.channel, inbound.sender)
    if identity is not None:
        deliveryreports.wrote_in(session, identity, ticket_id=ticket_id, now=ctx.now())


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
    record.status = InboundStatus.PARKED
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
