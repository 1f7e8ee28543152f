"""KPIs for leads over a period: first response time, resolution time, SLA
compliance, reopen rate, escalation frequency and satisfaction, in total and by
priority, queue, category and agent (the ticket's assignee).

Tickets opened in [since, until) count. One statement reads the tickets' facts rows
(``core.kpis.facts``) grouped by all four dimensions at once, a few hundred rows
whatever the number of tickets; the totals per dimension are added up from those.
Times are wall-clock minutes from the ticket's opening (``core.sla.report`` has the
business-time figures per SLA clock).

- first response: the first acknowledgement or public reply (as the SLA counts it);
- resolution: to the ticket's current resolution, for tickets resolved or closed now;
- SLA compliance: clocks met / clocks decided (met or breached), response and
  resolution, decided as ``report sla`` decides them (a running clock past its
  deadline is breached);
- reopen rate: tickets reopened at least once / tickets ever resolved;
- escalation frequency: tickets escalated at least once / tickets;
- satisfaction: the latest answer per ticket: average rating, share rated 4 or 5,
  share answered "not fixed".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.models import Agent, Category, SupportQueue, TicketFacts

DIMENSIONS = ("priority", "queue", "category", "agent")
SUMS = (
    "tickets",
    "responded",
    "response_minutes",
    "resolved",
    "resolution_minutes",
    "ever_resolved",
    "response_met",
    "response_breached",
    "resolution_met",
    "resolution_breached",
    "reopened",
    "escalated",
    "rated",
    "rating_sum",
    "satisfied",
    "answered_fixed",
    "not_fixed",
)


def _minutes(session: Session, end: Any, start: Any) -> ColumnElement[Any]:
    """The sum of ``end - start`` over the group, in minutes (PostgreSQL adds the
    intervals and converts once)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", func.sum(end - start)) / 60
    return func.sum(func.julianday(end) - func.julianday(start)) * 1440


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count().filter(condition)


def _breached(outcome: Any, due_at: Any, now: datetime) -> ColumnElement[bool]:
    """Breached at a change, or running past its deadline now."""
    return (outcome == "breached") | (outcome.is_(None) & (due_at < now))


def _rows(session: Session, since: datetime, until: datetime, now: datetime) -> list[Any]:
    f = TicketFacts
    columns = [
        func.count().label("tickets"),
        func.count(f.first_response_at).label("responded"),
        _minutes(session, f.first_response_at, f.opened_at).label("response_minutes"),
        func.count(f.resolved_at).label("resolved"),
        _minutes(session, f.resolved_at, f.opened_at).label("resolution_minutes"),
        _count(f.resolved_at.is_not(None) | (f.reopens > 0)).label("ever_resolved"),
        _count(f.response_sla == "met").label("response_met"),
        _count(_breached(f.response_sla, f.response_due_at, now)).label("response_breached"),
        _count(f.resolution_sla == "met").label("resolution_met"),
        _count(_breached(f.resolution_sla, f.resolution_due_at, now)).label("resolution_breached"),
        _count(f.reopens > 0).label("reopened"),
        _count(f.escalations > 0).label("escalated"),
        func.count(f.rating).label("rated"),
        func.sum(f.rating).label("rating_sum"),
        _count(f.rating >= 4).label("satisfied"),
        func.count(f.fixed).label("answered_fixed"),
        _count(f.fixed.is_(False)).label("not_fixed"),
    ]
    keys = (f.priority, f.queue_id, f.category_id, f.assignee_id)
    stmt = select(*keys, *columns).where(f.opened_at >= since, f.opened_at < until).group_by(*keys)
    return list(session.execute(stmt).all())


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _average(total: float, count: float) -> float | None:
    return round(total / count, 1) if count else None


def figures(sums: dict[str, float]) -> dict[str, Any]:
    """The KPIs of one bucket from its sums."""
    return {
        "tickets": int(sums["tickets"]),
        "first_response": {
            "count": int(sums["responded"]),
            "average_minutes": _average(sums["response_minutes"], sums["responded"]),
        },
        "resolution": {
            "count": int(sums["resolved"]),
            "average_minutes": _average(sums["resolution_minutes"], sums["resolved"]),
        },
        "sla": {
            clock: {
                "met": int(sums[f"{clock}_met"]),
                "breached": int(sums[f"{clock}_breached"]),
                "met_share": _share(
                    sums[f"{clock}_met"], sums[f"{clock}_met"] + sums[f"{clock}_breached"]
                ),
            }
            for clock in ("response", "resolution")
        },
        "reopen": {
            "reopened": int(sums["reopened"]),
            "resolved": int(sums["ever_resolved"]),
            "rate": _share(sums["reopened"], sums["ever_resolved"]),
        },
        "escalation": {
            "escalated": int(sums["escalated"]),
            "rate": _share(sums["escalated"], sums["tickets"]),
        },
        "satisfaction": {
            "ratings": int(sums["rated"]),
            "average_rating": round(sums["rating_sum"] / sums["rated"], 2)
            if sums["rated"]
            else None,
            "satisfied_share": _share(sums["satisfied"], sums["rated"]),
            "answers_fixed": int(sums["answered_fixed"]),
            "not_fixed_share": _share(sums["not_fixed"], sums["answered_fixed"]),
        },
    }


def kpis(session: Session, since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
    """The KPIs of tickets opened in [since, until), as of ``now``: ``total`` and
    ``by_<dimension>``."""
    names = {
        "queue": dict(session.execute(select(SupportQueue.id, SupportQueue.slug)).all()),
        "category": dict(session.execute(select(Category.id, Category.slug)).all()),
        "agent": dict(session.execute(select(Agent.id, Agent.name)).all()),
    }
    total = dict.fromkeys(SUMS, 0.0)
    groups: dict[str, dict[str, dict[str, float]]] = {d: {} for d in DIMENSIONS}
    for row in _rows(session, since, until, now):
        keys = {
            "priority": row.priority,
            "queue": names["queue"].get(row.queue_id, "-"),
            "category": names["category"].get(row.category_id, "-"),
            "agent": names["agent"].get(row.assignee_id, "-") if row.assignee_id else "-",
        }
        for bucket in [total] + [
            groups[d].setdefault(keys[d], dict.fromkeys(SUMS, 0.0)) for d in DIMENSIONS
        ]:
            for name in SUMS:
                bucket[name] += float(getattr(row, name) or 0)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total": figures(total),
        **{f"by_{d}": {k: figures(v) for k, v in sorted(groups[d].items())} for d in DIMENSIONS},
    }


HEADER = (
    "dimension",
    "group",
    "tickets",
    "first_response_count",
    "first_response_average_minutes",
    "resolution_count",
    "resolution_average_minutes",
    "response_sla_met",
    "response_sla_breached",
    "response_sla_met_share",
    "resolution_sla_met",
    "resolution_sla_breached",
    "resolution_sla_met_share",
    "reopened",
    "reopen_rate",
    "escalated",
    "escalation_rate",
    "ratings",
    "average_rating",
    "satisfied_share",
    "not_fixed_share",
)


def _cell(name: str) -> str:
    """A group's name as a spreadsheet shows it as text: one that starts like a
    formula (an agent called ``=HYPERLINK(...)``) gets a leading apostrophe."""
    return f"'{name}" if name[:1] in ("=", "+", "@") or (name[:1] == "-" and name != "-") else name


def table(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The report as rows under ``HEADER`` (the CSV export): the total first, then
    every group of every dimension. An empty figure is an empty cell."""

    def row(dimension: str, group: str, b: dict[str, Any]) -> tuple[Any, ...]:
        values = (
            b["tickets"],
            b["first_response"]["count"],
            b["first_response"]["average_minutes"],
            b["resolution"]["count"],
            b["resolution"]["average_minutes"],
            b["sla"]["response"]["met"],
            b["sla"]["response"]["breached"],
            b["sla"]["response"]["met_share"],
            b["sla"]["resolution"]["met"],
            b["sla"]["resolution"]["breached"],
            b["sla"]["resolution"]["met_share"],
            b["reopen"]["reopened"],
            b["reopen"]["rate"],
            b["escalation"]["escalated"],
            b["escalation"]["rate"],
            b["satisfaction"]["ratings"],
            b["satisfaction"]["average_rating"],
            b["satisfaction"]["satisfied_share"],
            b["satisfaction"]["not_fixed_share"],
        )
        return (dimension, _cell(group), *("" if v is None else v for v in values))

    rows = [row("total", "all", data["total"])]
    for d in DIMENSIONS:
        rows.extend(row(d, k, b) for k, b in data[f"by_{d}"].items())
    return rows
