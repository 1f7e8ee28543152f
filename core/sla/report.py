"""SLA compliance over a period: per priority, queue and category, the share of
tickets that met their response and resolution targets, with average and p90
times (open time on the ticket's calendar, pauses excluded, in minutes).

A clock still running and not yet due is "pending": it counts neither way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Context
from core.errors import ActionRefused
from core.models import Category, SupportQueue, Ticket
from core.sla import clock as slaclock
from core.sla import ticket as sla

GROUPS = ("priority", "queue", "category")


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


class _Bucket:
    def __init__(self) -> None:
        self.tickets = 0
        self.clocks: dict[str, dict[str, Any]] = {
            n: {"met": 0, "breached": 0, "pending": 0, "times": []} for n in sla.CLOCKS
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tickets": self.tickets}
        for name, c in self.clocks.items():
            decided = c["met"] + c["breached"]
            times: list[float] = c["times"]
            out[name] = {
                "met": c["met"],
                "breached": c["breached"],
                "pending": c["pending"],
                "met_share": round(c["met"] / decided, 4) if decided else None,
                "average_minutes": round(sum(times) / len(times), 1) if times else None,
                "p90_minutes": round(p, 1) if (p := _p90(times)) is not None else None,
            }
        return out


def period(
    now: datetime, since: str | None, until: str | None, days: int = 30
) -> tuple[datetime, datetime]:
    """[since, until) from ISO dates or instants; defaults: the last ``days`` days."""

    def parse(value: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ActionRefused(
                "report.period", f"'{value}' is not an ISO date or time (2026-11-01)", kind="field"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    end = parse(until) if until else now
    start = parse(since) if since else end - timedelta(days=days)
    return start, end


def compliance(ctx: Context, session: Session, since: datetime, until: datetime) -> dict[str, Any]:
    """Tickets opened in [since, until), grouped by priority, queue and category."""
    now = ctx.now()
    queues = dict(session.execute(select(SupportQueue.id, SupportQueue.slug)).all())
    categories = dict(session.execute(select(Category.id, Category.slug)).all())
    groups: dict[str, dict[str, _Bucket]] = {g: defaultdict(_Bucket) for g in GROUPS}
    total = _Bucket()
    tickets = session.execute(
        select(Ticket)
        .where(Ticket.created_at >= since, Ticket.created_at < until, Ticket.sla_clock.is_not(None))
        .order_by(Ticket.id)
    ).scalars()
    for ticket in tickets:
        targets = sla.targets_for(ctx, ticket, session)
        clocks = sla.load_clocks(ticket)
        if targets is None:
            continue
        events = sla.history(session, ticket.id)
        keys = {
            "priority": ticket.priority,
            "queue": queues.get(ticket.queue_id or -1, "-"),
            "category": categories.get(ticket.category_id or -1, "-"),
        }
        buckets = [total] + [groups[g][keys[g]] for g in GROUPS]
        for b in buckets:
            b.tickets += 1
        for name, clock in zip(sla.CLOCKS, (clocks.response, clocks.resolution), strict=True):
            if clock is None:
                continue
            if clock.breached(now):
                outcome = "breached"
            elif clock.stopped_at is not None:
                outcome = "met"
            else:
                outcome = "pending"
            minutes = None
            if clock.stopped_at is not None:
                stops = (slaclock.RESPOND,) if name == "response" else (slaclock.RESOLVE,)
                after = (
                    [e for e in events if e.at >= clock.started_at and e.kind != slaclock.START]
                    if name == "resolution"
                    else [e for e in events if e.kind == slaclock.RESPOND]
                )
                minutes = (
                    slaclock.used(
                        targets.calendar, clock.started_at, after, now, stops=stops
                    ).total_seconds()
                    / 60
                )
            for b in buckets:
                b.clocks[name][outcome] += 1
                if minutes is not None:
                    b.clocks[name]["times"].append(minutes)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total": total.as_dict(),
        **{f"by_{g}": {k: v.as_dict() for k, v in sorted(groups[g].items())} for g in GROUPS},
    }
