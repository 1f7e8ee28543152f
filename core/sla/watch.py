"""The clock's SLA work: find tickets at a checkpoint, warn before a breach,
escalate on one.

``tick`` is cheap and safe to run in several clock processes at once: it claims
due tickets through the indexed ``next_checkpoint_at`` (``FOR UPDATE SKIP LOCKED``
on PostgreSQL), pushes their checkpoint a lease ahead, and hands each to the
``sla_checkpoint`` job after the commit. ``checkpoint`` locks the ticket, acts at
most once per clock and cycle (the ``notified`` marks on the ticket), and sets the
next checkpoint. A lost job message is picked up again when the lease runs out.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from core import audit, outbox
from core.claims import claim_due, each_alone, lock_claimed
from core.context import Context
from core.escalation import chain as escalation
from core.escalation import notify, targets
from core.models import Agent, Ticket
from core.principals import system
from core.rendering import humanize_minutes
from core.sla import ticket as sla
from core.sla.clock import Clock
from core.tickets import notices, workflow
from core.tickets.lifecycle import OPEN_STATES
from core.tickets.notices import Notice

log = logging.getLogger(__name__)

JOB = "sla_checkpoint"
BATCH = 1000  # tickets claimed per tick at most
PER_JOB = 20  # tickets per sla_checkpoint job, checked in one transaction
LEASE = timedelta(seconds=60)
STALLED_STEP = timedelta(seconds=60)
CLIENT_NOTICE_DELAY = timedelta(seconds=30)


def tick(ctx: Context) -> int:
    """Claim tickets whose next checkpoint has passed and hand them to the workers."""
    ids = claim_due(ctx, Ticket.next_checkpoint_at, JOB, lease=LEASE, batch=BATCH, per_job=PER_JOB)
    escalation.resend_stalled(ctx, STALLED_STEP)
    if ids:
        log.info("SLA tick: %d ticket(s) at a checkpoint", len(ids))
    return len(ids)


def checkpoint(ctx: Context, ticket_id: int) -> list[str]:
    """Warn or escalate one ticket as its clocks say; returns what was done."""
    with ctx.db.transaction() as session:
        ticket = session.get(Ticket, ticket_id, with_for_update=True, populate_existing=True)
        if ticket is None:
            return []
        breached: list[tuple[Ticket, str]] = []
        done = _checkpoint(ctx, session, ticket, breached)
        workflow.escalate_many(ctx, session, system("sla"), breached)
        return done


def checkpoint_many(
    ctx: Context, ticket_ids: list[int], held: list[int] | None = None
) -> list[str]:
    """Several checkpoints in one transaction (a burst of breaches commits once).

    The tickets, their audit chain heads and their running escalations are locked
    with one statement each, in id order. With ``held``, the escalation pings due at
    once (the first step's) are not handed to the ``deliver`` job but added to
    ``held`` after the commit, for the caller to send straight away (warnings and
    client notices go to the ``deliver`` job as usual). If one ticket
    fails, each is run again on its own, so one bad ticket holds up nobody else.
    """
    try:
        with ctx.db.transaction() as session:
            rows = outbox.hold(session, (escalation.KIND,)) if held is not None else None
            tickets = lock_claimed(session, ticket_ids)
            escalation.preload_active(session, [t.id for t in tickets])
            breached: list[tuple[Ticket, str]] = []
            done = [d for ticket in tickets for d in _checkpoint(ctx, session, ticket, breached)]
            workflow.escalate_many(
                ctx, session, system("sla"), breached
            )  # together: fewer round trips
        if held is not None and rows:
            held.extend(row.id for row in rows)
        return done
    except Exception:
        if len(ticket_ids) == 1:
            raise
        return each_alone(ticket_ids, lambda i: checkpoint(ctx, i), "SLA checkpoint", log)


def _checkpoint(
    ctx: Context, session: Session, ticket: Ticket, breached: list[tuple[Ticket, str]]
) -> list[str]:
    """Warn now; a breach is added to ``breached`` (ticket, reason) for the caller to escalate."""
    done: list[str] = []
    stored = dict(ticket.sla_clock or {})
    clocks = sla.load_clocks(ticket)
    notified = {n: list(v) for n, v in (stored.get("notified") or {}).items()}
    now = ctx.now()
    warnings: list[tuple[str, Clock]] = []
    breaches: list[tuple[str, Clock]] = []
    for name, clock in zip(sla.CLOCKS, (clocks.response, clocks.resolution), strict=True):
        if clock is None or clock.stopped_at is not None or ticket.status not in OPEN_STATES:
            continue
        marks = notified.setdefault(name, [])
        if sla.BREACHED not in marks and clock.breached(now):
            marks.extend(m for m in (sla.WARNED, sla.BREACHED) if m not in marks)
            breaches.append((name, clock))
        elif sla.WARNED not in marks and sla.BREACHED not in marks and clock.at_risk(now):
            marks.append(sla.WARNED)
            warnings.append((name, clock))
    stored["notified"] = notified
    if breaches and not stored.get("client_told") and not stored.get("client_notice_at"):
        # Staff first: the client's notice is written by a checkpoint a little later,
        # so a burst of breaches only does what the first ping needs.
        stored["client_notice_at"] = (now + CLIENT_NOTICE_DELAY).isoformat()
    ticket.sla_clock = stored
    notice_at = sla.client_notice_at(stored)
    ticket.next_checkpoint_at = sla.next_checkpoint(clocks, notified, notice_at)
    for name, clock in warnings:
        _warn(ctx, session, ticket, name, clock)
        done.append(f"warned:{name}")
    if breaches:
        breached.append((ticket, _breach_reason(ticket, breaches)))
        done.extend(f"breached:{n}" for n, _ in breaches)
    elif notice_at is not None and notice_at <= now:
        _tell_client(ctx, session, ticket)
        ticket.next_checkpoint_at = sla.next_checkpoint(clocks, notified)
        done.append("told_client")
    return done


def _warn(ctx: Context, session: Session, ticket: Ticket, name: str, clock: Clock) -> None:
    due = clock.due_at.isoformat(timespec="minutes") if clock.due_at else "?"
    note = notify.Note(
        kind="sla_warning",
        subject=f"[{ticket.number}] {name} due soon",
        text=f"{ticket.number} ({ticket.priority}) is at risk: its {name} target is due at {due} (UTC).\nSubject: {ticket.subject}\n",
        urgent=ticket.priority == "P1",
        key=f"warn:{ticket.id}:{name}:{clock.started_at.isoformat()}",
    )
    # The assignee; else the queue's Slack channel; else whoever is on call.
    agent = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
    rows, via = targets.reach(ctx, session, ticket, [agent] if agent else [], note)
    action = "sla_at_risk" if rows else "sla_at_risk_unsent"
    audit.record(
        session,
        actor="system:sla",
        action=action,
        ticket_id=ticket.id,
        data={"clock": name, "due_at": due, "deliveries": rows, "via": via},
        now=ctx.now(),
    )


def _breach_reason(ticket: Ticket, breaches: list[tuple[str, Clock]]) -> str:
    names = " and ".join(n for n, _ in breaches)
    due = min(c.due_at for _, c in breaches if c.due_at is not None)
    return f"{names} target breached (due {due.isoformat(timespec='minutes')} UTC, policy {ticket.sla_policy})"


def _tell_client(ctx: Context, session: Session, ticket: Ticket) -> None:
    """Once per ticket: tell the client it was escalated and when to expect news
    (unless the ticket was closed or resolved in the meantime)."""
    stored = dict(ticket.sla_clock or {})
    if stored.get("client_told"):
        return
    stored["client_told"] = True
    ticket.sla_clock = stored
    if ticket.status not in OPEN_STATES:
        return
    chosen = sla.policy_for(ctx, ticket, session)
    minutes = (chosen.client_update_minutes if chosen else None) or 60
    notice = Notice(
        "escalated",
        fields={
            "update_within": humanize_minutes(int(minutes)),
            "critical": ticket.priority == "P1",
        },
        unsent="escalation_notice_unsent",
    )
    notices.tell(ctx, session, ticket, notice, actor="system:sla")
