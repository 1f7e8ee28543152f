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

from sqlalchemy import case, update

from core import audit, intake, logfields, sending
from core.channel import Sender
from core.context import Context
from core.db import after_commit
from core.desk import watch as deskwatch
from core.errors import DeliveryError
from core.escalation import stepping
from core.health import DEGRADED, UP
from core.models import DeliveryStatus, OutboxDelivery, format_number
from core.sla import watch as slawatch
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
    outage_seconds: float = 24 * 3600.0


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
    deliver_many([outbox_id])


def deliver_many(outbox_ids: list[int]) -> None:
    """Send outbox rows: claimed in one statement for this process, sent one after the
    other, each success recorded right after its send, each failure on its own
    (``_failed``).

    A row someone else holds, or one cancelled by an acknowledgement, is not taken.
    If this process dies, the one row it was sending (sent or not) stays ``sending``
    until the process is missed (``core.processes``, seconds); that row alone is then
    sent again, with the same idempotency key. The rows it had not reached yet are
    freed the same way and sent once.
    """
    rt = runtime()
    ctx = rt.ctx
    with ctx.db.transaction() as session:
        taken = [
            (
                row.id,
                row.ticket_id,
                row.attempts,
                Outbound.from_row(row.key, row.channel, row.recipient, row.kind, row.payload),
            )
            for row in sending.claim_many(session, sorted(outbox_ids), ctx.now(), by=ctx.process_id)
        ]
    for outbox_id, ticket_id, attempts, out in taken:
        with logfields.about(
            ticket=format_number(ticket_id) if ticket_id else None,
            channel=out.channel,
            outbox_key=out.key,
        ):
            ok, external_id = _send(rt, outbox_id, ticket_id, attempts, out)
            if ok:
                _sent(ctx, outbox_id, ticket_id, attempts, out, external_id)


def _sent(
    ctx: Context,
    outbox_id: int,
    ticket_id: int | None,
    attempts: int,
    out: Outbound,
    external_id: str | None,
) -> None:
    """Record one sent row and audit it, in one transaction."""
    with ctx.db.transaction() as session:
        now = ctx.now()
        session.execute(
            update(OutboxDelivery)
            .where(OutboxDelivery.id == outbox_id)
            .values(
                # A report of failure that arrived before this commit (a WhatsApp status
                # webhook can overtake it) is kept.
                status=case(
                    (OutboxDelivery.status == DeliveryStatus.BOUNCED, DeliveryStatus.BOUNCED),
                    else_=DeliveryStatus.SENT,
                ),
                sent_at=now,
                external_id=external_id,
                last_error=case(
                    (OutboxDelivery.status == DeliveryStatus.BOUNCED, OutboxDelivery.last_error),
                    else_=None,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        audit.record(
            session,
            actor="system:deliver",
            action="delivered",
            ticket_id=ticket_id,
            data={
                "outbox": outbox_id,
                "kind": out.kind,
                "channel": out.channel,
                "external_id": external_id,
                "attempt": attempts,
            },
            now=now,
        )
    log.info(
        "delivered outbox row %s (%s) on %s to %s",
        outbox_id,
        out.kind,
        out.channel,
        redact(out.recipient),
    )


def _send(
    rt: Runtime, outbox_id: int, ticket_id: int | None, attempts: int, out: Outbound
) -> tuple[bool, str | None]:
    """Hand one claimed row to its channel's sender: (True, the channel's id), or
    (False, None) once the failure is recorded (retry later, park or fail)."""
    sender = rt.senders.get(out.channel)
    part = delivery_part(out.channel)
    try:
        if sender is None:
            raise DeliveryError(f"no sender is configured for channel '{out.channel}'")
        sent = sender.send(out)
        known = rt.ctx.health.get(part)
        if known is not None and known.state != UP:
            rt.ctx.health.up(part)  # the platform answers again
            _resume(rt.ctx, out.channel, outbox_id)
        return True, sent
    except DeliveryError as exc:
        if exc.outage:  # in health (logged once), retried like any transient failure
            rt.ctx.health.set(part, DEGRADED, "the platform is unreachable or failing")
        _failed(
            rt,
            outbox_id,
            ticket_id,
            attempts,
            str(exc),
            permanent=exc.permanent,
            no_sender=sender is None,
            retry_after=exc.retry_after,
            outage=exc.outage,
        )
    except Exception as exc:  # a bug or an outage in a sender: ours, so logged as an error
        log.exception("sending outbox row %s on %s failed unexpectedly", outbox_id, out.channel)
        _failed(
            rt,
            outbox_id,
            ticket_id,
            attempts,
            f"{type(exc).__name__}: {exc}",
            permanent=False,
            no_sender=False,
        )
    return False, None


def delivery_part(channel: str) -> str:
    """The part of ``core.health`` that says whether deliveries on ``channel`` go out."""
    return f"{channel} deliveries"


def _failed(
    rt: Runtime,
    outbox_id: int,
    ticket_id: int | None,
    attempts: int,
    error: str,
    *,
    permanent: bool,
    no_sender: bool,
    retry_after: float | None = None,
    outage: bool = False,
) -> None:
    """Record a failed send: failed for good, parked, or retried later.

    A message's own transient failure is retried ``max_attempts`` times. While the
    platform itself is down (``outage``: unreachable, failing, rate limiting), the
    attempts do not run out: the delivery is retried at least every
    ``OUTAGE_RETRY_SECONDS`` until it has waited ``outage_seconds``, and the first
    send that gets through again hands every waiting delivery of the channel back to
    the workers (``_resume``)."""
    ctx = rt.ctx
    with ctx.db.transaction() as session:
        row = session.get(OutboxDelivery, outbox_id, with_for_update=True)
        assert row is not None
        row.last_error = error[:2000]
        if permanent:
            row.status = DeliveryStatus.FAILED
            outcome = "delivery_failed"
        elif no_sender or (
            attempts >= rt.max_attempts
            and not (outage and sending.waited(row, ctx.now()) < rt.outage_seconds)
        ):
            row.status = DeliveryStatus.PARKED
            outcome = "delivery_parked"
        else:
            delay = sending.backoff(rt.backoff_seconds, attempts)
            if outage:
                delay = min(delay, OUTAGE_RETRY_SECONDS)
            delay = max(delay, retry_after or 0.0)
            row.status = DeliveryStatus.PENDING
            row.next_attempt_at = ctx.now() + timedelta(seconds=delay)
            row.enqueued_at = None
            outcome = "delivery_retry"
            after_commit(
                session,
                lambda: ctx.dispatcher.send("deliver", outbox_id, delay_ms=int(delay * 1000)),
            )
        audit.record(
            session,
            actor="system:deliver",
            action=outcome,
            ticket_id=ticket_id,
            data={
                "outbox": outbox_id,
                "attempt": attempts,
                "error": error[:500],
            },
            now=ctx.now(),
        )
    level = logging.INFO if outcome == "delivery_retry" else logging.WARNING
    log.log(
        level, "outbox row %s: %s after attempt %s: %s", outbox_id, outcome, attempts, error[:200]
    )


OUTAGE_RETRY_SECONDS = 300.0  # while a platform is down, its deliveries are tried this often


def _resume(ctx: Context, channel: str, sent_id: int) -> None:
    """The platform answers again: the deliveries waiting out its outage go now, not
    when their backoff ends (up to a quarter of an hour later)."""
    try:
        with ctx.db.transaction() as session:
            waiting = sending.retrying(session, channel, ctx.now())
    except Exception:  # the clock's sweep still hands them over when they are due
        log.exception("could not list the %s deliveries waiting for the platform", channel)
        return
    waiting = [i for i in waiting if i != sent_id]
    if waiting:
        log.info("%s answers again: sending %d waiting deliveries", channel, len(waiting))
    for outbox_id in waiting:
        ctx.dispatcher.send("deliver", outbox_id)


def process_inbound(record_ids: int | str) -> None:
    """Decide stored inbound records (one id, or several as "12,13,14": decided in
    one transaction)."""
    # The acknowledgements leave from here, right after the commit, in one claim
    # and one status update, instead of a job each.
    _batch(record_ids, intake.process_many, "the acknowledgements of an intake batch")


def sla_checkpoint(ticket_ids: int | str) -> None:
    """Warn or escalate tickets whose SLA checkpoint the clock found passed
    (one id, or several as "12,13,14": checked in one transaction)."""
    # The first pings leave from here, right after the commit, instead of waiting
    # in the queue behind the rest of a burst; the rows stay the source of truth.
    _batch(ticket_ids, slawatch.checkpoint_many, "the pings of an SLA checkpoint")


def desk_checkpoint(ticket_ids: int | str) -> None:
    """Fire the desk rules due on tickets the clock found ("12,13,14": one transaction)."""
    deskwatch.checkpoint_many(runtime().ctx, _ids(ticket_ids))


def _ids(ids: int | str) -> list[int]:
    """One id, or several as "12,13,14"."""
    return [int(i) for i in str(ids).split(",") if i.strip()]


def _batch(
    ids: int | str, work: Callable[[Context, list[int], list[int]], object], what: str
) -> None:
    """Run ``work`` on the batch; it fills ``held`` with the outbox rows to send right
    after its commit, which are sent here."""
    ctx = runtime().ctx
    held: list[int] = []
    work(ctx, _ids(ids), held)
    _send_held(ctx, held, what)


def _send_held(ctx: Context, held: list[int], what: str) -> None:
    if not held:
        return
    try:
        deliver_many(held)
    except Exception:
        log.exception("sending %s failed; handing them to the deliver job", what)
        for outbox_id in held:
            ctx.dispatcher.send("deliver", outbox_id)


def escalation_step(escalation_id: int, token: str) -> None:
    """Run one escalation step, if ``token`` still names the chain's active step."""
    stepping.step(runtime().ctx, escalation_id, token)


# SLA checkpoints run on a queue of their own at a lower priority (Dramatiq runs the
# lowest number first): during a burst of breaches, the pings each one has queued
# are delivered as soon as it commits instead of waiting behind the whole burst.
JOB_QUEUE_SUFFIX = {"sla_checkpoint": ".sla", "desk_checkpoint": ".sla"}
JOB_PRIORITY = {"sla_checkpoint": 10, "desk_checkpoint": 10}

JOBS: dict[str, Callable[..., None]] = {
    "deliver": deliver,
    "process_inbound": process_inbound,
    "sla_checkpoint": sla_checkpoint,
    "desk_checkpoint": desk_checkpoint,
    "escalation_step": escalation_step,
}
