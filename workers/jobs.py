"""The work the actors do, as plain functions over the process's ``Context``.

``deliver`` sends one outbox row; ``process_inbound`` decides one stored inbound
record. Both are safe to run twice for the same id: a finished row is left alone,
and a row another worker holds is not taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from channels.base import Sender
from core import audit, escalation, intake, outbox, slawatch
from core.context import Context
from core.db import after_commit
from core.errors import DeliveryError
from core.models import OutboxDelivery
from core.tokens import redact
from core.values import Outbound

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What this process's actors work with."""

    ctx: Context
    senders: dict[str, Sender] = field(default_factory=dict)
    max_attempts: int = 8
    backoff_seconds: float = 2.0


_runtime: Runtime | None = None


def bind(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workers.jobs.bind() was not called in this process")
    return _runtime


def deliver(outbox_id: int) -> None:
    """Send one outbox row through its channel's sender, at most once per key."""
    rt = runtime()
    ctx = rt.ctx
    with ctx.db.transaction() as session:
        row = outbox.claim(session, outbox_id, ctx.now())
        if row is None:
            return
        out = Outbound.from_row(row.key, row.channel, row.recipient, row.kind, row.payload)
        ticket_id, attempts = row.ticket_id, row.attempts
    sender = rt.senders.get(out.channel)
    try:
        if sender is None:
            raise DeliveryError(f"no sender is configured for channel '{out.channel}'")
        external_id = sender.send(out)
    except DeliveryError as exc:
        _failed(rt, outbox_id, ticket_id, attempts, str(exc), permanent=exc.permanent, no_sender=sender is None)
        return
    except Exception as exc:  # a bug or an outage in a sender: ours, so logged as an error
        log.exception("sending outbox row %s on %s failed unexpectedly", outbox_id, out.channel)
        _failed(rt, outbox_id, ticket_id, attempts, f"{type(exc).__name__}: {exc}", permanent=False, no_sender=False)
        return
    with ctx.db.transaction() as session:
        row = session.get(OutboxDelivery, outbox_id, with_for_update=True)
        assert row is not None
        row.status = outbox.SENT
        row.sent_at = ctx.now()
        row.external_id = external_id
        row.last_error = None
        audit.record(session, actor="system:deliver", action="delivered", ticket_id=ticket_id, data={
            "outbox": outbox_id, "kind": row.kind, "channel": row.channel, "external_id": external_id, "attempt": attempts,
        }, now=ctx.now())
    log.info("delivered outbox row %s (%s) on %s to %s", outbox_id, out.kind, out.channel, redact(out.recipient))


def _failed(rt: Runtime, outbox_id: int, ticket_id: int | None, attempts: int, error: str, *, permanent: bool, no_sender: bool) -> None:
    ctx = rt.ctx
    with ctx.db.transaction() as session:
        row = session.get(OutboxDelivery, outbox_id, with_for_update=True)
        assert row is not None
        row.last_error = error[:2000]
        if permanent:
            row.status = outbox.FAILED
            outcome = "delivery_failed"
        elif no_sender or attempts >= rt.max_attempts:
            row.status = outbox.PARKED
            outcome = "delivery_parked"
        else:
            delay = outbox.backoff(rt.backoff_seconds, attempts)
            row.status = outbox.PENDING
            row.next_attempt_at = ctx.now() + timedelta(seconds=delay)
            row.enqueued_at = None
            outcome = "delivery_retry"
            after_commit(session, lambda: ctx.dispatcher.send("deliver", outbox_id, delay_ms=int(delay * 1000)))
        audit.record(session, actor="system:deliver", action=outcome, ticket_id=ticket_id, data={
            "outbox": outbox_id, "attempt": attempts, "error": error[:500],
        }, now=ctx.now())
    level = logging.INFO if outcome == "delivery_retry" else logging.WARNING
    log.log(level, "outbox row %s: %s after attempt %s: %s", outbox_id, outcome, attempts, error[:200])


def process_inbound(record_ids: int | str) -> None:
    """Decide stored inbound records (one id, or several as "12,13,14": decided in
    one transaction, each in its own savepoint)."""
    ids = [int(i) for i in str(record_ids).split(",") if i.strip()]
    intake.process_many(runtime().ctx, ids)


def sla_checkpoint(ticket_ids: int | str) -> None:
    """Warn or escalate tickets whose SLA checkpoint the clock found passed
    (one id, or several as "12,13,14": checked in one transaction)."""
    ids = [int(i) for i in str(ticket_ids).split(",") if i.strip()]
    slawatch.checkpoint_many(runtime().ctx, ids)


def escalation_step(escalation_id: int, token: str) -> None:
    """Run one escalation step, if ``token`` still names the chain's active step."""
    escalation.step(runtime().ctx, escalation_id, token)


# SLA checkpoints run on a queue of their own at a lower priority (Dramatiq runs the
# lowest number first): during a burst of breaches, the pings each one has queued
# are delivered as soon as it commits instead of waiting behind the whole burst.
JOB_QUEUE_SUFFIX = {"sla_checkpoint": ".sla"}
JOB_PRIORITY = {"sla_checkpoint": 10}

JOBS: dict[str, Callable[..., None]] = {"deliver": deliver, "process_inbound": process_inbound, "sla_checkpoint": sla_checkpoint, "escalation_step": escalation_step}
