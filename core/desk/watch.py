"""The clock's desk rules: an unassigned ticket past its limit escalates to its
queue's lead; a hold past its limit is flagged for review and its owner reminded.

``tick`` claims due tickets through the indexed ``rule_due_at`` (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), pushes it a lease ahead and hands them to the
``desk_checkpoint`` job after the commit, like the SLA watch. ``checkpoint_many``
locks the tickets, fires each rule due in the ticket's current spell once (its key
goes to ``rule_state.fired``), and sets the next due time. A lost job message is
picked up again when the lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core import audit
from core.claims import claim_due, each_alone, lock_claimed
from core.context import Context
from core.desk import followups, rules
from core.desk.leads import leads_for
from core.escalation import notify, targets
from core.models import Agent, Ticket
from core.rendering import humanize_minutes

log = logging.getLogger(__name__)

JOB = "desk_checkpoint"
BATCH = 1000
PER_JOB = 20
LEASE = timedelta(seconds=60)


def tick(ctx: Context) -> int:
    """Claim tickets whose next desk rule is due and hand them to the workers."""
    ids = claim_due(ctx, Ticket.rule_due_at, JOB, lease=LEASE, batch=BATCH, per_job=PER_JOB)
    if ids:
        log.info("desk tick: %d ticket(s) with a rule due", len(ids))
    return len(ids)


def checkpoint_many(ctx: Context, ticket_ids: list[int]) -> list[str]:
    """Fire the rules due on these tickets, in one transaction; if that fails, each
    ticket on its own (one bad ticket holds up nobody else)."""
    try:
        with ctx.db.transaction() as session:
            tickets = lock_claimed(session, ticket_ids)
            return [d for t in tickets for d in checkpoint(ctx, session, t)]
    except Exception:
        if len(ticket_ids) == 1:
            raise
        return each_alone(ticket_ids, lambda i: checkpoint_many(ctx, [i]), "desk checkpoint", log)


def checkpoint(ctx: Context, session: Session, ticket: Ticket) -> list[str]:
    """Fire each rule due now in the ticket's current spells (once), then set the next."""
    now = ctx.now()
    done: list[str] = []
    state = dict(ticket.rule_state or {})
    fired = list(state.get("fired") or [])
    for kind, at in rules.due(ctx, session, ticket).items():
        key = rules.key(state, kind)
        if at > now or key is None or key in fired:
            continue
        fired.append(key)
        since = datetime.fromisoformat(state[kind])
        decide = _unassigned if kind == rules.UNASSIGNED else _hold
        _flag(ctx, session, ticket, key, since, decide(ctx, session, ticket, since))
        done.append(kind)
    ticket.rule_state = {**state, "fired": fired}
    ticket.rule_due_at = rules.next_due(ctx, session, ticket)
    return done


def _waited(since: datetime, now: datetime) -> str:
    return humanize_minutes(int((now - since).total_seconds() // 60)) or "less than a minute"


@dataclass(frozen=True)
class Flag:
    """What a due rule flags: the follow-up's ``kind`` for the first of ``agents``, the
    reason it gives, the note's subject and text, and the audit ``action``."""

    kind: str
    agents: list[Agent]
    reason: str
    subject: str
    text: str
    urgent: bool
    action: str


def _unassigned(ctx: Context, session: Session, ticket: Ticket, since: datetime) -> Flag:
    leads = leads_for(ctx, session, ticket)
    waited = _waited(since, ctx.now())
    return Flag(
        kind="unassigned",
        agents=leads,
        reason=f"nobody has been assigned for {waited}: assign it",
        subject="nobody assigned",
        text=f"has had nobody assigned for {waited}; as the queue's lead, please assign it",
        urgent=ticket.priority == "P1",
        action="unassigned_escalated",
    )


def _hold(ctx: Context, session: Session, ticket: Ticket, since: datetime) -> Flag:
    owner = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
    if owner is not None and not owner.active:
        owner = None
    leads = leads_for(ctx, session, ticket) if owner is None else []
    who = owner or (leads[0] if leads else None)
    waited = _waited(since, ctx.now())
    past = "past its review date" if ticket.hold_until is not None else f"for {waited}"
    held = f"on hold ({(ticket.hold_reason or 'other').replace('_', ' ')}) {past}"
    return Flag(
        kind="hold_review",
        agents=[who] if who else [],
        reason=f"{held}: review it",
        subject=f"on hold {past}",
        text=f"has been {held}: resume it, or hold it again with a new review date",
        urgent=False,
        action="hold_review_flagged",
    )


def _flag(
    ctx: Context, session: Session, ticket: Ticket, key: str, since: datetime, flag: Flag
) -> None:
    """Open the follow-up for the first of the flag's agents, tell them all (else the
    queue's Slack channel, else who is on call) and audit it (its ``action``, or
    ``ACTION_unsent`` when nobody could be reached)."""
    agents = flag.agents
    followups.open_one(
        ctx,
        session,
        ticket,
        kind=flag.kind,
        key=key,
        agent=agents[0] if agents else None,
        reason=flag.reason,
    )
    note = notify.Note(
        kind=f"desk_{flag.kind}",
        subject=f"[{ticket.number}] {flag.subject}: {ticket.subject}"[:300],
        text=f"{ticket.number} ({ticket.priority}) {flag.text}.\nSubject: {ticket.subject}\n",
        urgent=flag.urgent,
        key=f"desk:{ticket.id}:{key}",
    )
    rows, via = targets.reach(ctx, session, ticket, agents, note)
    audit.record(
        session,
        actor=followups.ACTOR,
        action=flag.action if rows else f"{flag.action}_unsent",
        ticket_id=ticket.id,
        data={
            "since": since.isoformat(),
            "for": [a.email for a in agents],
            "via": via,
            "deliveries": rows,
        },
        now=ctx.now(),
    )
