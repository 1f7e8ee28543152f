"""Outbox rows: every side effect is committed with the change that caused it.

Only ``public`` messages and automatic notices can become client deliveries;
an internal note cannot reach ``to_client`` (it raises before writing anything).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import audit, contacts
from core.context import Context
from core.db import after_commit
from core.errors import ActionRefused, NotFound, SwitchboardError
from core.models import DeliveryStatus, Identity, Message, OutboxDelivery, Ticket
from core.principals import Principal
from core.rendering import Rendered
from core.values import Outbound


class InternalNoteLeak(SwitchboardError):
    """Raised when code tries to send an internal note to a client. Always a bug."""

    code = "internal_note_leak"


def queue(
    ctx: Context,
    session: Session,
    out: Outbound,
    *,
    ticket_id: int | None,
    message_id: int | None = None,
    not_before: datetime | None = None,
    flush: bool = True,
) -> OutboxDelivery:
    """Write one delivery row and hand it to the workers after commit.

    ``flush=False`` leaves the INSERT to the session's next flush (so a batch writes
    its rows together); the row has no id until then.
    """
    row = OutboxDelivery(
        key=out.key,
        ticket_id=ticket_id,
        message_id=message_id,
        kind=out.kind,
        channel=out.channel,
        recipient=out.recipient,
        payload=out.to_payload(),
        not_before=not_before,
        created_at=ctx.now(),
    )
    session.add(row)
    if flush:
        session.flush()
    delay = None
    if not_before is not None:
        delay = max(0, int((not_before - ctx.now()).total_seconds() * 1000))
    held: tuple[tuple[str, ...], list[OutboxDelivery]] | None = session.info.get(HELD)
    if held is not None and not_before is None and out.kind in held[0]:
        held[1].append(row)
    else:  # by commit time the row has its id (and keeps it once the session is closed)
        after_commit(session, lambda: ctx.dispatcher.send("deliver", row.id, delay_ms=delay))
    return row


HELD = "switchboard_outbox_held"


def hold(session: Session, kinds: tuple[str, ...]) -> list[OutboxDelivery]:
    """From now on in this session, rows of these kinds due at once are not handed to
    the ``deliver`` job after commit but collected in the returned list: the caller
    delivers them itself right after its commit (or hands them over). Rows it never
    gets to are still pending in the table, and the clock's sweep re-sends them."""
    held: list[OutboxDelivery] = []
    session.info[HELD] = (kinds, held)
    return held


def to_client(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    rendered: Rendered,
    message: Message | None = None,
    automatic: bool,
    key: str,
    not_before: datetime | None = None,
    extras: dict[str, Any] | None = None,
    thread: dict[str, Any] | None = None,
    flush: bool = True,
) -> OutboxDelivery | None:
    """Queue a message to the ticket's client on the channel they last used
    (``contacts.reply_to``).

    ``thread`` is what ``thread_info`` would find, when the caller already knows it;
    ``flush``: as for ``queue`` (False: the row has its id after the next flush).

    Returns None when the ticket has no reachable identity (kept in the audit), or
    when its channel is never written to (``ctx.silent_channels``: monitoring).
    """
    if message is not None and message.kind != "public":
        raise InternalNoteLeak(
            f"message {message.id} is {message.kind}; only public messages reach clients"
        )
    if ticket.reply_identity is not None and ticket.reply_identity.kind in ctx.silent_channels:
        return None  # a monitoring system: nothing is ever sent to it
    identity = contacts.reply_to(ctx, session, ticket)
    if identity is None or identity.kind in ctx.silent_channels:
        return None
    if automatic and _held_back(
        ctx, session, identity.kind, identity.address, identity, kind=kind, ticket_id=ticket.id
    ):
        return None
    out = Outbound(
        key=key,
        channel=identity.kind,
        recipient=identity.address,
        kind=kind,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        ticket_number=ticket.number,
        automatic=automatic,
        thread=thread if thread is not None else thread_info(session, ticket, identity.kind),
        extras=extras or {},
    )
    return queue(
        ctx,
        session,
        out,
        ticket_id=ticket.id,
        message_id=message.id if message else None,
        not_before=not_before,
        flush=flush,
    )


def to_address(
    ctx: Context,
    session: Session,
    channel: str,
    recipient: str,
    *,
    kind: str,
    rendered: Rendered,
    key: str,
    ticket_id: int | None = None,
) -> OutboxDelivery | None:
    """Queue an automatic message to an address that is on no ticket yet (a link code
    sent to a client's other address). Returns None when it is held back like any
    automatic message (a permanently bounced address, the hourly cap: audited)."""
    known = contacts.find_identity(session, channel, recipient)
    if _held_back(ctx, session, channel, recipient, known, kind=kind, ticket_id=ticket_id):
        return None
    out = Outbound(
        key=key,
        channel=channel,
        recipient=recipient,
        kind=kind,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        automatic=True,
    )
    return queue(ctx, session, out, ticket_id=ticket_id)


def _held_back(
    ctx: Context,
    session: Session,
    channel: str,
    recipient: str,
    identity: Identity | None,
    *,
    kind: str,
    ticket_id: int | None,
) -> bool:
    """True (and audited) when an automatic message to this recipient must not go."""
    if identity is not None and identity.bounced_at is not None:
        # A permanent bounce: nothing automatic goes there until the address writes in.
        audit.record(
            session,
            actor="system:outbox",
            action="automatic_suppressed",
            ticket_id=ticket_id,
            data={"kind": kind, "address": identity.address, "reason": identity.bounce_reason},
            now=ctx.now(),
        )
        return True
    if over_automatic_limit(ctx, session, channel, recipient):
        audit.record(
            session,
            actor="system:outbox",
            action="automatic_capped",
            ticket_id=ticket_id,
            data={"kind": kind, "limit_per_hour": ctx.auto_reply_limit_per_hour},
            now=ctx.now(),
        )
        return True
    return False


def over_automatic_limit(ctx: Context, session: Session, channel: str, recipient: str) -> bool:
    """True when ``recipient`` already got the hourly cap of automatic messages (loop safety)."""
    if ctx.auto_reply_limit_per_hour > 0 and contacts.first_time_here(session, channel, recipient):
        return False  # a first-time sender has had nothing from us yet
    since = ctx.now() - timedelta(hours=1)
    if ctx.db.is_postgres:  # two workers must not both count 4 and both send the 5th
        digest = hashlib.sha256(f"auto:{channel}:{recipient}".encode()).digest()
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": int.from_bytes(digest[:8], "big", signed=True)},
        )
    payloads = session.execute(
        select(OutboxDelivery.payload).where(
            OutboxDelivery.channel == channel,
            OutboxDelivery.recipient == recipient,
            OutboxDelivery.created_at >= since,
        )
    ).scalars()
    return sum(1 for p in payloads if (p or {}).get("automatic")) >= ctx.auto_reply_limit_per_hour


def thread_info(session: Session, ticket: Ticket, channel: str) -> dict[str, Any]:
    """Ids of earlier messages on the ticket in ``channel``, oldest first, so senders can
    thread replies (an email's References never carries a Slack or Telegram id)."""
    received = session.execute(
        select(Message.created_at, Message.external_id).where(
            Message.ticket_id == ticket.id,
            Message.channel == channel,
            Message.kind == "public",
            Message.external_id.is_not(None),
        )
    ).all()
    sent = session.execute(
        select(OutboxDelivery.created_at, OutboxDelivery.external_id).where(
            OutboxDelivery.ticket_id == ticket.id,
            OutboxDelivery.channel == channel,
            OutboxDelivery.external_id.is_not(None),
        )
    ).all()
    ordered = sorted([*received, *sent], key=lambda row: row[0])
    return {
        "references": [external_id for _, external_id in ordered if external_id],
        "ticket_id": ticket.id,
    }


def requeue(ctx: Context, outbox_id: int) -> None:
    """Put a parked or failed delivery back in the queue (an operator's decision)."""
    with ctx.db.transaction() as session:
        result = session.execute(
            update(OutboxDelivery)
            .where(
                OutboxDelivery.id == outbox_id,
                OutboxDelivery.status.in_([DeliveryStatus.PARKED, DeliveryStatus.FAILED]),
            )
            .values(
                status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=None, enqueued_at=None
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"outbox row {outbox_id} is not parked or failed")
        ticket_id = session.get(OutboxDelivery, outbox_id).ticket_id  # type: ignore[union-attr]
        audit.record(
            session,
            actor="system:operator",
            action="delivery_requeued",
            ticket_id=ticket_id,
            data={"outbox": outbox_id},
            now=ctx.now(),
        )
        after_commit(session, lambda: ctx.dispatcher.send("deliver", outbox_id))


def cancel(
    ctx: Context, session: Session, who: Principal, outbox_id: int, *, reason: str = "undo"
) -> OutboxDelivery:
    """Stop a delivery that has not left yet (an agent's Undo): status cancelled, audited.

    Raises ``ActionRefused`` (``undo.too_late``) once a worker has taken or sent it.
    """
    if not who.is_staff:
        raise ActionRefused("undo.role", "only staff may cancel a delivery", kind="role")
    stopped = _cancel(
        session, f"cancelled by {who.label}: {reason}", OutboxDelivery.id == outbox_id
    )
    row = session.get(OutboxDelivery, outbox_id, populate_existing=True)
    if row is None:
        raise NotFound(f"outbox row {outbox_id} does not exist")
    if stopped != 1:
        raise ActionRefused(
            "undo.too_late",
            f"the {row.kind} is already {row.status}; it can no longer be stopped",
            kind="conflict",
        )
    audit.record(
        session,
        actor=who.label,
        action="delivery_cancelled",
        ticket_id=row.ticket_id,
        data={"outbox": outbox_id, "kind": row.kind, "message": row.message_id, "reason": reason},
        now=ctx.now(),
    )
    return row


def cancel_waiting(session: Session, ticket_id: int, kind: str, why: str) -> int:
    """Cancel the ticket's deliveries of ``kind`` that have not left yet (the pings of an
    acknowledged escalation); returns how many."""
    return _cancel(session, why, OutboxDelivery.ticket_id == ticket_id, OutboxDelivery.kind == kind)


def _cancel(session: Session, why: str, *where: ColumnElement[bool]) -> int:
    """Cancel the pending rows ``where`` selects: a worker claims only pending rows, so
    none of them leaves after this commits. Returns how many were cancelled."""
    result = session.execute(
        update(OutboxDelivery)
        .where(OutboxDelivery.status == DeliveryStatus.PENDING, *where)
        .values(status=DeliveryStatus.CANCELLED, last_error=why[:2000])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
