"""SLA deadlines for a ticket: policy + calendar + the ticket's SLA events.

Every core action calls ``refresh`` inside its transaction. It compares the ticket
with the facts the clocks last saw (responded? on hold? resolved?), writes one
``sla_events`` row per change, and moves the running clocks (``core.slaclock``).
A different policy (priority, category or tier changed) recomputes both clocks
from the whole event history instead. ``next_checkpoint_at`` is the next instant
the clock role must look at the ticket: the at-risk point or the deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from core.context import Context
from core.models import Category, Organization, SlaEvent, SupportQueue, Ticket, TicketStatus
from core.sla import clock as slaclock
from core.sla import policy as slapolicy
from core.sla.clock import Clock, Clocks, Event, Targets
from core.sla.policy import SlaPolicy

CLOCKS = ("response", "resolution")
WARNED, BREACHED = "warned", "breached"


def policy_for(ctx: Context, ticket: Ticket, session: Session | None = None) -> SlaPolicy | None:
    """The policy for this ticket now: rules by tier, category and queue, else its priority's."""
    session = session or object_session(ticket)
    tier = category = queue = None
    if session is not None:
        if ticket.organization_id:
            org = session.get(Organization, ticket.organization_id)
            tier = org.tier if org else None
        category = _slug(ctx, session, Category, ticket.category_id)
        queue = _slug(ctx, session, SupportQueue, ticket.queue_id)
    return slapolicy.config(ctx.policy).choose(ticket.priority, tier, category, queue)


def _slug(
    ctx: Context, session: Session, model: type[Category] | type[SupportQueue], row_id: int | None
) -> str | None:
    """Queue and category slugs by id (a slug never changes once a row exists), kept
    on the context: ids are only meaningful in the context's own database."""
    if row_id is None:
        return None
    key = (model.__tablename__, row_id)
    if key not in ctx.slugs:
        row = session.get(model, row_id)
        if row is None:
            return None
        ctx.slugs[key] = str(getattr(row, "slug"))  # noqa: B009
    return ctx.slugs[key]


def targets_for(ctx: Context, ticket: Ticket, session: Session | None = None) -> Targets | None:
    chosen = policy_for(ctx, ticket, session)
    if chosen is None:
        return None
    return Targets(
        chosen.name,
        chosen.response,
        chosen.resolution,
        chosen.calendar,
        slapolicy.config(ctx.policy).at_risk_share,
    )


def responded_at(ticket: Ticket) -> datetime | None:
    times = [t for t in (ticket.first_response_at, ticket.acknowledged_at) if t is not None]
    return min(times) if times else None


def _facts(ticket: Ticket) -> dict[str, bool]:
    return {
        "responded": responded_at(ticket) is not None,
        "paused": ticket.status == TicketStatus.ON_HOLD,
        "done": ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED),
    }


def load_clocks(ticket: Ticket) -> Clocks:
    stored = ticket.sla_clock or {}
    return Clocks(*(Clock.from_json(stored[n]) if stored.get(n) else None for n in CLOCKS))


def history(session: Session, ticket_id: int) -> list[Event]:
    rows = session.execute(
        select(SlaEvent.at, SlaEvent.kind)
        .where(SlaEvent.ticket_id == ticket_id)
        .order_by(SlaEvent.at, SlaEvent.id)
    ).all()
    return [Event(at, kind) for at, kind in rows]


def refresh(ctx: Context, ticket: Ticket) -> None:
    """Record what changed for the clocks, move them, and set the due times."""
    session = object_session(ticket)
    now = ctx.now()
    stored: dict[str, Any] = dict(ticket.sla_clock or {})
    targets = targets_for(ctx, ticket, session)
    facts = _facts(ticket)
    before = stored.get("facts")
    events: list[Event] = []
    if before is None:
        events.append(Event(ticket.created_at, slaclock.START))
        before = {"responded": False, "paused": False, "done": False}
    responded = responded_at(ticket)
    if facts["responded"] and not before["responded"] and responded is not None:
        events.append(Event(responded, slaclock.RESPOND))
    if facts["done"] and not before["done"]:
        events.append(Event(ticket.resolved_at or now, slaclock.RESOLVE))
    elif before["done"] and not facts["done"]:
        events.append(Event(now, slaclock.REOPEN))
    if not facts["done"] and facts["paused"] != before["paused"]:
        events.append(Event(now, slaclock.PAUSE if facts["paused"] else slaclock.RESUME))
    signature = targets.signature if targets else None
    policy_changed = "facts" in stored and stored.get("policy") != signature
    if policy_changed:
        events.append(Event(now, slaclock.POLICY))
    notified = {n: list(v) for n, v in (stored.get("notified") or {}).items()}
    if any(e.kind == slaclock.REOPEN for e in events):
        notified.pop("resolution", None)
    if targets is None:
        clocks = Clocks(None, None)
    elif policy_changed or "facts" not in stored or stored.get("policy") is None:
        past = history(session, ticket.id) if session is not None and "facts" in stored else []
        clocks = slaclock.recompute(targets, sorted(past + events, key=lambda e: e.at))
    else:
        clocks = load_clocks(ticket)
        for event in events:
            clocks = slaclock.advance(targets, clocks, event)
    for event in events:
        data = (
            {"policy": targets.name if targets else None}
            if event.kind in (slaclock.START, slaclock.POLICY)
            else {}
        )
        if session is not None:
            session.add(SlaEvent(ticket_id=ticket.id, at=event.at, kind=event.kind, data=data))
    stored.update(
        policy=signature,
        facts=facts,
        notified=notified,
        response=clocks.response.to_json() if clocks.response else None,
        resolution=clocks.resolution.to_json() if clocks.resolution else None,
    )
    ticket.sla_clock = stored
    ticket.sla_policy = targets.name if targets else None
    ticket.response_due_at = clocks.response.due_at if clocks.response else None
    ticket.resolution_due_at = clocks.resolution.due_at if clocks.resolution else None
    ticket.next_checkpoint_at = next_checkpoint(clocks, notified, client_notice_at(stored))
    ticket.sla_attention_at = attention_at(clocks)


def client_notice_at(stored: dict[str, Any]) -> datetime | None:
    """When the client is due to hear that the ticket was escalated (None: told, or no breach)."""
    if stored.get("client_told") or not stored.get("client_notice_at"):
        return None
    return datetime.fromisoformat(stored["client_notice_at"])


def next_checkpoint(
    clocks: Clocks, notified: dict[str, list[str]], notice_at: datetime | None = None
) -> datetime | None:
    """The earliest at-risk point or deadline of a running clock not yet acted on
    (or the pending client notice after a breach)."""
    points: list[datetime] = [notice_at] if notice_at else []
    for name, clock in zip(CLOCKS, (clocks.response, clocks.resolution), strict=True):
        if clock is None or clock.stopped_at is not None:
            continue
        done = notified.get(name, [])
        if BREACHED not in done and clock.due_at is not None:
            points.append(clock.due_at)
        if WARNED not in done and BREACHED not in done and clock.risk_at is not None:
            points.append(clock.risk_at)
    return min(points) if points else None


def attention_at(clocks: Clocks) -> datetime | None:
    """The moment from which ``state`` is yellow or red as the clocks stand (None: never).

    A running clock turns yellow at its at-risk point and red at its deadline; a
    paused or stopped one is frozen where it stopped: red or yellow already (from
    its deadline or at-risk point on), or never.
    """
    points: list[datetime] = []
    for clock in (clocks.response, clocks.resolution):
        if clock is None:
            continue
        end = clock.stopped_at or clock.paused_at
        if clock.due_at is not None and (end is None or end > clock.due_at):
            points.append(clock.due_at)
        if (
            clock.stopped_at is None
            and clock.risk_at is not None
            and (end is None or end >= clock.risk_at)
        ):
            points.append(clock.risk_at)
    return min(points) if points else None


def backfill_attention(session: Session) -> int:
    """Set ``sla_attention_at`` on tickets stored before it existed; returns how many."""
    count = 0
    for ticket in session.execute(
        select(Ticket).where(Ticket.sla_clock.is_not(None), Ticket.sla_attention_at.is_(None))
    ).scalars():
        found = attention_at(load_clocks(ticket))
        if found is not None:
            ticket.sla_attention_at = found
            count += 1
    return count


def clock_state(clock: Clock | None, now: datetime) -> str | None:
    if clock is None:
        return None
    if clock.breached(now):
        return "red"
    if clock.stopped_at is None and clock.at_risk(now):
        return "yellow"
    return "green"


def state(ctx: Context, ticket: Ticket, now: datetime | None = None) -> str:
    """green, yellow (at risk: a share of a target used, 75% by default) or red (breached)."""
    now = now or ctx.now()
    clocks = load_clocks(ticket)
    states = [clock_state(c, now) for c in (clocks.response, clocks.resolution)]
    for worst in ("red", "yellow"):
        if worst in states:
            return worst
    return "green"


def detail(ctx: Context, ticket: Ticket, now: datetime | None = None) -> dict[str, Any]:
    """Per-clock state for views: state, due time, paused, stopped, remaining."""
    now = now or ctx.now()
    clocks = load_clocks(ticket)
    out: dict[str, Any] = {}
    for name, clock in zip(CLOCKS, (clocks.response, clocks.resolution), strict=True):
        if clock is None:
            out[name] = None
            continue
        out[name] = {
            "state": clock_state(clock, now),
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "at_risk_at": clock.risk_at.isoformat() if clock.risk_at else None,
            "target_minutes": clock.target.total_seconds() / 60,
            "started_at": clock.started_at.isoformat(),
            "paused": clock.paused_at is not None and clock.stopped_at is None,
            "remaining_minutes": clock.remaining.total_seconds() / 60
            if clock.remaining is not None
            else None,
            "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
            "met": (not clock.breached(now)) if clock.stopped_at else None,
        }
    return out


def recompute_ticket(ctx: Context, session: Session, ticket: Ticket) -> Clocks:
    """A fresh computation from the ticket's events, to compare with the running clocks."""
    targets = targets_for(ctx, ticket, session)
    if targets is None:
        return Clocks(None, None)
    return slaclock.recompute(targets, history(session, ticket.id))


def queue_slug(ctx: Context, session: Session, queue_id: int | None) -> str | None:
    return _slug(ctx, session, SupportQueue, queue_id)
