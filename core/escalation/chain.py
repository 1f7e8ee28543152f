"""Escalation chains: snapshot, then step.

When a ticket is escalated (an SLA breach, or by hand), the configured chain is
copied onto it (an ``escalations`` row: ``starting``). Each step is a delayed
``escalation_step`` message carrying the row's current token (``stepping``): it
locks the row, checks the token (a stale or duplicate message does nothing),
notifies its one target (``targets``), writes an audit event (failures too) and
schedules the next step only after the commit. ``acknowledging`` stops the chain
in the caller's transaction and cancels pings not yet sent, so nothing is sent
after an acknowledgement.

This module holds what they share: the running chain of a ticket, its token and
its schedule, and the views of it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.db import after_commit, transaction_cache
from core.escalation.config import Chain
from core.models import Escalation, EscalationStatus

JOB = "escalation_step"
KIND = "escalation"
CHECKED = "escalations_checked"  # ticket id -> its active chain (or None), locked by preload_active


def active(session: Session, ticket_id: int, *, lock: bool = False) -> Escalation | None:
    """The ticket's running chain, if any (``lock``: for update)."""
    query = select(Escalation).where(
        Escalation.ticket_id == ticket_id, Escalation.status == EscalationStatus.ACTIVE
    )
    if lock:
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def preload_active(session: Session, ticket_ids: list[int]) -> None:
    """Lock and remember the running chains of several tickets in one statement, so
    ``starting.start`` on each of them (in this transaction) needs no query of its own."""
    found = {
        e.ticket_id: e
        for e in session.execute(
            select(Escalation)
            .where(
                Escalation.ticket_id.in_(ticket_ids),
                Escalation.status == EscalationStatus.ACTIVE,
            )
            .order_by(Escalation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    }
    transaction_cache(session, CHECKED).update({t: found.get(t) for t in ticket_ids})


def new_token() -> str:
    return secrets.token_hex(12)


def end(
    ctx: Context,
    session: Session,
    esc: Escalation,
    status: EscalationStatus,
    *,
    actor: str,
    action: str,
    **data: Any,
) -> None:
    """Stop ``esc`` for good (no step message is valid after this) and audit why."""
    esc.status, esc.token, esc.next_step_at = status, None, None
    audit.record(
        session,
        actor=actor,
        action=action,
        ticket_id=esc.ticket_id,
        data={"escalation": esc.id, **data},
        now=ctx.now(),
    )


def schedule(ctx: Context, session: Session, esc: Escalation) -> None:
    """Send the step message for ``esc``'s next step after the commit, delayed until it is due."""
    esc_id, token = esc.id, esc.token
    assert esc.next_step_at is not None and token is not None
    delay = max(0, int((esc.next_step_at - ctx.now()).total_seconds() * 1000))
    after_commit(session, lambda: ctx.dispatcher.send(JOB, esc_id, token, delay_ms=delay))


def resend_stalled(ctx: Context, older_than: timedelta, limit: int = 200) -> int:
    """Re-send step messages the broker may have lost (the token makes duplicates harmless)."""
    cutoff = ctx.now() - older_than
    with ctx.db.reading() as session:
        rows = session.execute(
            select(Escalation.id, Escalation.token)
            .where(Escalation.status == EscalationStatus.ACTIVE, Escalation.next_step_at < cutoff)
            .order_by(Escalation.next_step_at)
            .limit(limit)
        ).all()
    for esc_id, token in rows:
        if token:
            ctx.dispatcher.send(JOB, esc_id, token)
    return len(rows)


def latest(session: Session, ticket_id: int) -> Escalation | None:
    """The ticket's latest chain, running or not."""
    return session.execute(
        select(Escalation)
        .where(Escalation.ticket_id == ticket_id)
        .order_by(Escalation.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def describe(session: Session, ticket_id: int) -> dict[str, Any] | None:
    """The ticket's latest chain, for views."""
    esc = latest(session, ticket_id)
    if esc is None:
        return None
    running = esc.status == EscalationStatus.ACTIVE
    return {
        "status": esc.status,
        "chain": esc.chain,
        "reason": esc.reason,
        "next_step": esc.step_index + 1 if running else None,
        "steps": len(Chain.of(esc).steps),
        "pings": esc.pings,
        "next_step_at": esc.next_step_at.isoformat() if esc.next_step_at else None,
        "started_at": esc.started_at.isoformat(),
        "acknowledged_at": esc.acknowledged_at.isoformat() if esc.acknowledged_at else None,
        "acknowledged_by": esc.acknowledged_by,
    }
