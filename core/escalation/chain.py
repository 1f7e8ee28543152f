"""Escalation chains: snapshot, then step.

When a ticket is escalated (an SLA breach, or by hand), the configured chain is
copied onto it (an ``escalations`` row). Each step is a delayed ``escalation_step``
message carrying the row's current token: it locks the row, checks the token
(a stale or duplicate message does nothing), notifies its one target, writes an
audit event (failures too) and schedules the next step only after the commit.
``acknowledge`` stops the chain in the caller's transaction and cancels pings
not yet sent, so nothing is sent after an acknowledgement.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit, outbox
from core.context import Context
from core.db import after_commit, transaction_cache
from core.errors import ActionRefused, ConfigError
from core.escalation import notify, oncall
from core.events import Change
from core.models import Agent, Escalation, OutboxDelivery, SupportQueue, Ticket
from core.policy import Policy, cached
from core.principals import Principal, system
from core.sla import ticket as sla
from core.tickets.lifecycle import OPEN_STATES

log = logging.getLogger(__name__)

ACTIVE, ACKNOWLEDGED, FINISHED, STOPPED = "active", "acknowledged", "finished", "stopped"
JOB = "escalation_step"
KIND = "escalation"


@dataclass(frozen=True)
class ChainRule:
    chain: str
    priority: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationConfig:
    chains: dict[str, dict[str, Any]]
    rules: tuple[ChainRule, ...]
    groups: dict[str, tuple[str, ...]]

    def chain_for(self, priority: str, queue: str | None) -> str:
        for rule in self.rules:
            if (not rule.priority or priority in rule.priority) and (
                not rule.queue or queue in rule.queue
            ):
                return rule.chain
        return "default"


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _build(policy: Policy) -> EscalationConfig:
    raw = policy.raw.get("escalation") or {}
    chains: dict[str, dict[str, Any]] = {}
    for name, table in (raw.get("chains") or {}).items():
        steps = []
        for i, step in enumerate(table.get("steps") or []):
            where = f"escalation.chains.{name}.steps[{i}]"
            target = step.get("notify")
            channels = _tuple(step.get("channels") or ["slack"])
            if not target:
                raise ConfigError(
                    f'{where}: needs notify = "queue" / "oncall" / "group:NAME" / ...'
                )
            bad = [c for c in channels if c not in notify.STAFF_CHANNELS]
            if bad:
                raise ConfigError(
                    f"{where}: unknown channel(s) {', '.join(bad)} (use {', '.join(notify.STAFF_CHANNELS)})"
                )
            wait = step.get("wait_minutes", 0)
            if not isinstance(wait, int | float) or wait < 0:
                raise ConfigError(f"{where}: wait_minutes must be a number of minutes, 0 or more")
            steps.append({"wait_minutes": wait, "notify": str(target), "channels": list(channels)})
        if not steps:
            raise ConfigError(f"escalation.chains.{name}: needs at least one step")
        every = table.get("repeat_every_minutes", 15)
        chains[name] = {
            "steps": steps,
            "repeat": bool(table.get("repeat", True)),
            "repeat_every_minutes": every,
        }
    if "default" not in chains:
        raise ConfigError(
            "escalation.chains.default is missing (the chain used when no rule matches)"
        )
    rules = tuple(
        ChainRule(str(r["chain"]), _tuple(r.get("priority")), _tuple(r.get("queue")))
        for r in raw.get("rules") or []
    )
    for rule in rules:
        if rule.chain not in chains:
            raise ConfigError(f"escalation.rules: unknown chain '{rule.chain}'")
    groups = {str(k): _tuple(v) for k, v in (raw.get("groups") or {}).items()}
    return EscalationConfig(chains, rules, groups)


def config(policy: Policy) -> EscalationConfig:
    result: EscalationConfig = cached(policy, "escalation", _build)
    return result


def active(session: Session, ticket_id: int, *, lock: bool = False) -> Escalation | None:
    query = select(Escalation).where(Escalation.ticket_id == ticket_id, Escalation.status == ACTIVE)
    if lock:
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


CHECKED = "escalations_checked"  # ticket id -> its active chain (or None), locked by preload_active


def preload_active(session: Session, ticket_ids: list[int]) -> None:
    """Lock and remember the running chains of several tickets in one statement, so
    ``start`` on each of them (in this transaction) needs no query of its own."""
    found = {
        e.ticket_id: e
        for e in session.execute(
            select(Escalation)
            .where(Escalation.ticket_id.in_(ticket_ids), Escalation.status == ACTIVE)
            .order_by(Escalation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    }
    transaction_cache(session, CHECKED).update({t: found.get(t) for t in ticket_ids})


def _token() -> str:
    return secrets.token_hex(12)


# Starting and stepping ------------------------------------------------------------------


def start(
    ctx: Context, session: Session, ticket: Ticket, *, reason: str, actor: str = "system:sla"
) -> Escalation:
    """Freeze the ticket's chain onto it and run the first step (if it waits 0 minutes)."""
    return start_many(ctx, session, [(ticket, reason)], actor=actor)[0]


def start_many(
    ctx: Context, session: Session, items: list[tuple[Ticket, str]], *, actor: str = "system:sla"
) -> list[Escalation]:
    """``start`` for several tickets (a burst of breaches), phase by phase: all the
    chains are written in one flush, then all their first pings in another."""
    checked = transaction_cache(session, CHECKED)
    cfg = config(ctx.policy)
    now = ctx.now()
    result: list[Escalation] = []
    new: list[tuple[Ticket, Escalation, dict[str, Any]]] = []
    for ticket, reason in items:
        existing = (
            checked.pop(ticket.id)
            if ticket.id in checked
            else active(session, ticket.id, lock=True)
        )
        if existing is not None:
            result.append(existing)
            continue
        name = cfg.chain_for(ticket.priority, sla.queue_slug(ctx, session, ticket.queue_id))
        chain = cfg.chains[name]
        esc = Escalation(
            ticket_id=ticket.id,
            chain=name,
            steps=[dict(s) for s in chain["steps"]]
            + [{"marker": "repeat", "repeat_every_minutes": chain["repeat_every_minutes"]}],
            repeat=chain["repeat"],
            reason=reason,
            status=ACTIVE,
            token=_token(),
            step_index=0,
            rounds=0,
            pings=0,
            started_at=now,
            next_step_at=now + timedelta(minutes=chain["steps"][0]["wait_minutes"]),
        )
        session.add(esc)
        result.append(esc)
        new.append((ticket, esc, chain))
    if not new:
        return result
    session.flush()  # the chains' ids, for all of them at once
    first: list[tuple[Ticket, Escalation, dict[str, Any], _Queued]] = []
    for ticket, esc, chain in new:
        started = {
            "escalation": esc.id,
            "chain": esc.chain,
            "reason": esc.reason,
            "steps": len(chain["steps"]),
        }
        if chain["steps"][0]["wait_minutes"] == 0:
            first.append((ticket, esc, started, _queue_step(ctx, session, ticket, esc)))
        else:
            audit.record(
                session,
                actor=actor,
                action="escalation_started",
                ticket_id=ticket.id,
                data=started,
                now=now,
            )
            _schedule(ctx, session, esc)
    if first:
        session.flush()  # the pings' ids, likewise
        for ticket, esc, started, queued in first:
            _finish_step(
                ctx, session, ticket, esc, queued, started=started
            )  # one audit event says both
    return result


def _steps(esc: Escalation) -> list[dict[str, Any]]:
    return [s for s in esc.steps if "notify" in s]


def _repeat_every(esc: Escalation) -> float:
    marker = next((s for s in esc.steps if s.get("marker") == "repeat"), {})
    return float(marker.get("repeat_every_minutes", 15))


def _schedule(ctx: Context, session: Session, esc: Escalation) -> None:
    esc_id, token = esc.id, esc.token
    assert esc.next_step_at is not None and token is not None
    delay = max(0, int((esc.next_step_at - ctx.now()).total_seconds() * 1000))
    after_commit(session, lambda: ctx.dispatcher.send(JOB, esc_id, token, delay_ms=delay))


def step(ctx: Context, escalation_id: int, token: str) -> bool:
    """The ``escalation_step`` job: run the step this token names, if it is still current."""
    with ctx.db.transaction() as session:
        esc = session.get(Escalation, escalation_id, with_for_update=True, populate_existing=True)
        if esc is None or esc.status != ACTIVE or esc.token != token:
            log.debug("escalation %s: stale step message ignored", escalation_id)
            return False
        ticket = session.get(Ticket, esc.ticket_id)
        assert ticket is not None
        if ticket.status not in OPEN_STATES:
            esc.status, esc.token, esc.next_step_at = STOPPED, None, None
            audit.record(
                session,
                actor="system:escalation",
                action="escalation_stopped",
                ticket_id=ticket.id,
                data={"escalation": esc.id, "why": f"the ticket is {ticket.status}"},
                now=ctx.now(),
            )
            return False
        _run_step(ctx, session, ticket, esc)
        return True


@dataclass
class _Queued:
    """One step's pings, written but not yet flushed."""

    step: dict[str, Any]
    rows: list[OutboxDelivery]
    problems: list[str]


def _run_step(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    esc: Escalation,
    started: dict[str, Any] | None = None,
) -> None:
    queued = _queue_step(ctx, session, ticket, esc)
    session.flush()
    _finish_step(ctx, session, ticket, esc, queued, started=started)


def _queue_step(ctx: Context, session: Session, ticket: Ticket, esc: Escalation) -> _Queued:
    """Write the pings of the chain's current step (the outbox rows get ids at the next flush)."""
    current = _steps(esc)[esc.step_index]
    note = notify.Note(
        kind=KIND,
        subject=f"[{ticket.number}] escalated: {ticket.subject}"[:300],
        text=(
            f"{ticket.number} ({ticket.priority}) needs someone now: {esc.reason}.\n"
            f"Subject: {ticket.subject}\n"
        ),
        urgent=True,
        key=f"esc:{esc.id}:{esc.pings}",
    )
    rows, problems = _notify_target(ctx, session, ticket, current, note, esc.id)
    return _Queued(current, rows, problems)


def _finish_step(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    esc: Escalation,
    queued: _Queued,
    *,
    started: dict[str, Any] | None = None,
) -> None:
    """Audit the step (failures too) and move the chain on to its next step."""
    steps = _steps(esc)
    current, problems = queued.step, queued.problems
    sent = [row.id for row in queued.rows]
    now = ctx.now()
    data = {
        **(started or {}),
        "escalation": esc.id,
        "step": esc.step_index + 1,
        "round": esc.rounds + 1,
        "notify": current["notify"],
        "channels": current["channels"],
        "deliveries": sent,
    }
    if sent:
        audit.record(
            session,
            actor="system:escalation",
            action="escalation_step",
            ticket_id=ticket.id,
            data={**data, "problems": problems} if problems else data,
            now=now,
        )
    else:
        audit.record(
            session,
            actor="system:escalation",
            action="escalation_step_failed",
            ticket_id=ticket.id,
            data={**data, "problems": problems or ["nobody to notify"]},
            now=now,
        )
    esc.pings += 1
    nxt = esc.step_index + 1
    if nxt >= len(steps):
        if not esc.repeat:
            esc.status, esc.token, esc.next_step_at = FINISHED, None, None
            audit.record(
                session,
                actor="system:escalation",
                action="escalation_finished",
                ticket_id=ticket.id,
                data={"escalation": esc.id},
                now=now,
            )
            return
        esc.rounds += 1
        nxt = 0
        wait = _repeat_every(esc) + float(steps[0]["wait_minutes"])
    else:
        wait = float(steps[nxt]["wait_minutes"])
    esc.step_index = nxt
    esc.token = _token()
    esc.next_step_at = now + timedelta(minutes=wait)
    _schedule(ctx, session, esc)


def _notify_target(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    current: dict[str, Any],
    note: notify.Note,
    esc_id: int,
) -> tuple[list[OutboxDelivery], list[str]]:
    """Write the pings for one step, unflushed; returns (outbox rows, problems)."""
    target: str = current["notify"]
    channels = list(current["channels"])
    problems: list[str] = []
    if target == "queue":
        queue = session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
        if queue is None or not queue.slack_channel:
            return [], [f"queue {queue.slug if queue else '(none)'} has no Slack channel"]
        if "slack" not in channels:
            return [], [
                'a queue is reached through its Slack channel; add "slack" to the step\'s channels'
            ]
        return [
            notify.to_address(ctx, session, "slack", queue.slack_channel, ticket, note, flush=False)
        ], []
    agents = _agents_for(ctx, session, ticket, target, problems)
    rows = []
    for agent in agents:
        # Each agent's ping carries a link of their own: one click acknowledges as them
        # (Slack pings have their button instead).
        link = ctx.ack_link(esc_id, agent.id)
        own = replace(note, text=f"{note.text}Acknowledge to stop the escalation: {link}\n")
        row = notify.to_agent(ctx, session, agent, ticket, own, channels, flush=False)
        if row is None:
            problems.append(f"{agent.email} has no address on {', '.join(channels)}")
        else:
            rows.append(row)
    return rows, problems


def _agents_for(
    ctx: Context, session: Session, ticket: Ticket, target: str, problems: list[str]
) -> list[Agent]:
    kind, _, name = target.partition(":")
    emails: list[str] = []
    roles: list[str] = []
    if kind == "oncall":
        rotation = oncall.find(ctx.policy, name or None)
        if rotation is None:
            problems.append(f"no on-call rotation {name or '(first)'} is configured")
            return []
        emails.append(rotation.who(ctx.now())[0])
    elif kind == "assignee":
        if ticket.assignee_id is None:
            problems.append("the ticket has no assignee")
            return []
        agent = session.get(Agent, ticket.assignee_id)
        return [agent] if agent and agent.active else []
    elif kind == "agent":
        emails.append(name.lower())
    elif kind == "role":
        roles.append(name)
    elif kind == "group":
        members = config(ctx.policy).groups.get(name)
        if not members:
            problems.append(f"group '{name}' is not configured")
            return []
        for member in members:
            (
                roles.append(member[5:])
                if member.startswith("role:")
                else emails.append(member.lower())
            )
    else:
        problems.append(f"unknown escalation target '{target}'")
        return []
    agents: list[Agent] = []
    known = transaction_cache(
        session, "active_agents"
    )  # a burst of breaches asks for the same people
    if emails:
        key = tuple(sorted(set(emails)))
        if key not in known:
            known[key] = list(
                session.execute(
                    select(Agent).where(Agent.email.in_(emails), Agent.active.is_(True))
                ).scalars()
            )
        found = list(known[key])
        missing = set(emails) - {a.email for a in found}
        problems.extend(f"no active agent {m}" for m in sorted(missing))
        agents.extend(found)
    if roles:
        if "all" not in known:
            known["all"] = list(
                session.execute(
                    select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
                ).scalars()
            )
        for agent in known["all"]:
            if set(agent.roles) & set(roles) and agent not in agents:
                agents.append(agent)
        if not agents:
            problems.append(f"no active agent with role {', '.join(roles)}")
    return agents


# Acknowledging --------------------------------------------------------------------------


def acknowledge(
    ctx: Context, session: Session, ticket: Ticket, *, by: str, who: Principal | None = None
) -> Escalation:
    """Stop the ticket's chain now: no step runs and no ping leaves after this commits.

    Usable from every channel (Slack button, Telegram command, email link) and the API;
    ``by`` is the audit label, ``who`` the principal when there is one. The observers
    hear of it (Slack updates every ping it posted, whichever way it was acknowledged).
    Raises ``ActionRefused`` when the ticket has no chain running.
    """
    esc = active(session, ticket.id, lock=True)
    if esc is None:
        raise ActionRefused(
            "escalation.none",
            f"{ticket.number} has no escalation waiting for an acknowledgement",
            kind="state",
        )
    now = ctx.now()
    esc.status, esc.token, esc.next_step_at = ACKNOWLEDGED, None, None
    esc.acknowledged_at, esc.acknowledged_by = now, by[:120]
    cancelled = session.execute(
        update(OutboxDelivery)
        .where(
            OutboxDelivery.ticket_id == ticket.id,
            OutboxDelivery.kind == KIND,
            OutboxDelivery.status == outbox.PENDING,
        )
        .values(status=outbox.CANCELLED, last_error="escalation acknowledged")
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    audit.record(
        session,
        actor=by,
        action="escalation_acknowledged",
        ticket_id=ticket.id,
        data={"escalation": esc.id, "pings": esc.pings, "cancelled": cancelled},
        now=now,
    )
    change = Change(
        "escalation_acknowledged",
        ticket,
        who or system(by),
        ticket.status,
        ticket.status,
        {"escalation": esc.id, "by": by},
    )
    for observer in ctx.observers:
        observer(ctx, session, change)
    return esc


def resend_stalled(ctx: Context, older_than: timedelta, limit: int = 200) -> int:
    """Re-send step messages the broker may have lost (the token makes duplicates harmless)."""
    cutoff = ctx.now() - older_than
    with ctx.db.reading() as session:
        rows = session.execute(
            select(Escalation.id, Escalation.token)
            .where(Escalation.status == ACTIVE, Escalation.next_step_at < cutoff)
            .order_by(Escalation.next_step_at)
            .limit(limit)
        ).all()
    for esc_id, token in rows:
        if token:
            ctx.dispatcher.send(JOB, esc_id, token)
    return len(rows)


def describe(session: Session, ticket_id: int) -> dict[str, Any] | None:
    """The ticket's latest chain, for views."""
    esc = session.execute(
        select(Escalation)
        .where(Escalation.ticket_id == ticket_id)
        .order_by(Escalation.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if esc is None:
        return None
    steps = _steps(esc)
    return {
        "status": esc.status,
        "chain": esc.chain,
        "reason": esc.reason,
        "next_step": esc.step_index + 1 if esc.status == ACTIVE else None,
        "steps": len(steps),
        "pings": esc.pings,
        "next_step_at": esc.next_step_at.isoformat() if esc.next_step_at else None,
        "started_at": esc.started_at.isoformat(),
        "acknowledged_at": esc.acknowledged_at.isoformat() if esc.acknowledged_at else None,
        "acknowledged_by": esc.acknowledged_by,
    }
