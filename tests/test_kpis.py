"""KPIs for leads: every figure recomputed from the raw events of generated ticket
histories, the JSON API, the command line, the CSV export and /metrics."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from config.cli import main
from core.errors import ActionRefused
from core.models import (
    Agent,
    AuditEvent,
    Category,
    ResolutionRecord,
    SupportQueue,
    Ticket,
)
from core.principals import Principal, client_principal
from core.satisfaction import answering
from core.sla import report as slareport
from core.tickets import conversation, fields, lookup, workflow
from core.tokens import satisfaction_token
from tests.harness import Harness
from tests.sla_support import FakeNow

DONE = ("resolved", "closed")
STAFF = (("Ana", ("agent",)), ("Bo", ("agent",)), ("Lee", ("lead",)))
RESPONSES = ("acknowledge", "assign", "reply")


def generate(harness: Harness, now: FakeNow, seed: int, tickets: int = 14) -> list[Principal]:
    """Tickets with random histories through the core actions, the clock moving."""
    rng = random.Random(seed)
    ctx = harness.ctx
    staff = [harness.agent(f"{name} {seed}", roles)[0] for name, roles in STAFF]
    subjects = ["Printer jammed", "VPN slow", "Invoice wrong", "Door badge down", "Laptop"]
    for i in range(tickets):
        now.advance(minutes=rng.randint(1, 90))
        ticket_id = harness.open_ticket(
            subject=f"{rng.choice(subjects)} {i}",
            requester=("fake", f"client-{seed}-{i}", "Client"),
            priority=rng.choice(["P1", "P2", "P3", "P4"]),
        )
        for _ in range(rng.randint(0, 9)):
            now.advance(minutes=rng.randint(1, 400))
            who = rng.choice(staff)
            step = rng.choice(STEPS)
            try:
                with ctx.db.transaction() as s:
                    t = lookup.get_ticket(s, ticket_id, lock=True)
                    step(harness, s, who, t, rng)
            except ActionRefused:
                pass  # not allowed from this state: the history goes on
    return staff


def _answer(harness: Harness, s: Any, who: Principal, t: Ticket, rng: random.Random) -> None:
    latest = s.execute(
        select(ResolutionRecord.id)
        .where(ResolutionRecord.ticket_id == t.id)
        .order_by(ResolutionRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is None or t.status not in DONE:
        raise ActionRefused("test.skip", "nothing to answer")
    answering.answer(
        harness.ctx,
        s,
        satisfaction_token(harness.ctx.secret, latest),
        fixed=rng.choice([True, False, None]),
        rating=rng.choice([1, 2, 3, 4, 5, None]),
        comment="ok",
    )


def _assign(harness: Harness, s: Any, who: Principal, t: Ticket, rng: random.Random) -> None:
    agents = s.execute(select(Agent).order_by(Agent.id)).scalars().all()
    workflow.assign(harness.ctx, s, who, t, assignee=rng.choice(agents))


STEPS: list[Callable[[Harness, Any, Principal, Ticket, random.Random], object]] = [
    lambda h, s, who, t, rng: workflow.acknowledge(h.ctx, s, who, t),
    _assign,
    lambda h, s, who, t, rng: conversation.reply(h.ctx, s, who, t, text="Try this."),
    lambda h, s, who, t, rng: workflow.hold(h.ctx, s, who, t, reason="waiting_on_client"),
    lambda h, s, who, t, rng: workflow.resume(h.ctx, s, who, t),
    lambda h, s, who, t, rng: workflow.resolve(h.ctx, s, who, t, code="fixed", steps="Done."),
    lambda h, s, who, t, rng: workflow.resolve(h.ctx, s, who, t, code="fixed", steps="Done."),
    lambda h, s, who, t, rng: workflow.reopen(h.ctx, s, client_principal(t.contact_id), t),
    lambda h, s, who, t, rng: workflow.escalate(h.ctx, s, who, t, reason="customer is upset"),
    lambda h, s, who, t, rng: fields.set_priority(
        h.ctx, s, who, t, priority=rng.choice(["P2", "P3"]), reason="on a second look"
    ),
    _answer,
    _answer,
]


def recompute(harness: Harness) -> dict[str, dict[str, dict[str, float]]]:
    """Sums per group, from the tickets' audit events alone (and their current
    priority, queue, category and assignee to group by)."""
    with harness.ctx.db.reading() as s:
        names: dict[str, dict[int | None, str]] = {
            "queue": dict(s.execute(select(SupportQueue.id, SupportQueue.slug)).all()),
            "category": dict(s.execute(select(Category.id, Category.slug)).all()),
            "agent": dict(s.execute(select(Agent.id, Agent.name)).all()),
        }
        events: dict[int, list[AuditEvent]] = defaultdict(list)
        for e in s.execute(
            select(AuditEvent)
            .where(AuditEvent.ticket_id.is_not(None))
            .order_by(AuditEvent.ticket_id, AuditEvent.seq)
        ).scalars():
            events[e.ticket_id].append(e)  # type: ignore[index]
        tickets = s.execute(select(Ticket)).scalars().all()
        out: dict[str, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        for t in tickets:
            history = events[t.id]
            opened = history[0].created_at
            assert history[0].action == "open"
            status = [e.data["to"] for e in history if "to" in e.data][-1]
            responded = next((e.created_at for e in history if e.action in RESPONSES), None)
            resolves = [e.created_at for e in history if e.action == "resolve"]
            answers = [e.data for e in history if e.action.startswith("satisfaction")]
            answers = [a for a in answers if "rating" in a]
            reopened = any(
                e.data.get("from") in DONE and e.data.get("to") not in DONE for e in history
            )
            sums = {
                "tickets": 1,
                "responded": responded is not None,
                "response_minutes": (responded - opened).total_seconds() / 60 if responded else 0,
                "resolved": status in DONE,
                "resolution_minutes": (resolves[-1] - opened).total_seconds() / 60
                if status in DONE
                else 0,
                "ever_resolved": bool(resolves),
                "reopened": reopened,
                "escalated": any(e.action == "escalate" for e in history),
                "rated": bool(answers) and answers[-1]["rating"] is not None,
                "rating_sum": (answers[-1]["rating"] or 0) if answers else 0,
                "satisfied": bool(answers) and (answers[-1]["rating"] or 0) >= 4,
                "answered_fixed": bool(answers) and answers[-1]["fixed"] is not None,
                "not_fixed": bool(answers) and answers[-1]["fixed"] is False,
            }
            keys = {
                "total": "all",
                "priority": t.priority,
                "queue": names["queue"].get(t.queue_id, "-"),
                "category": names["category"].get(t.category_id, "-"),
                "agent": names["agent"].get(t.assignee_id, "-"),
            }
            for dimension, key in keys.items():
                for name, value in sums.items():
                    out[dimension][key][name] += float(value)
    return out


def close(a: float | None, b: float | None, places: int = 1) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 10**-places


def check_bucket(got: dict[str, Any], want: dict[str, float], where: str) -> None:
    def avg(total: str, count: str) -> float | None:
        return want[total] / want[count] if want[count] else None

    def share(part: str, whole: str) -> float | None:
        return want[part] / want[whole] if want[whole] else None

    assert got["tickets"] == want["tickets"], where
    assert got["first_response"]["count"] == want["responded"], where
    assert close(got["first_response"]["average_minutes"], avg("response_minutes", "responded"))
    assert got["resolution"]["count"] == want["resolved"], where
    assert close(got["resolution"]["average_minutes"], avg("resolution_minutes", "resolved"))
    assert close(got["reopen"]["rate"], share("reopened", "ever_resolved"), 4), where
    assert got["reopen"]["reopened"] == want["reopened"], where
    assert close(got["escalation"]["rate"], share("escalated", "tickets"), 4), where
    assert got["satisfaction"]["ratings"] == want["rated"], where
    assert close(got["satisfaction"]["average_rating"], avg("rating_sum", "rated"), 2), where
    assert close(got["satisfaction"]["satisfied_share"], share("satisfied", "rated"), 4), where
    assert close(got["satisfaction"]["not_fixed_share"], share("not_fixed", "answered_fixed"), 4)


def test_every_kpi_recomputed_from_the_raw_events_of_generated_histories_agrees(
    harness: Harness, now: FakeNow
) -> None:
    for seed in (1, 2):
        generate(harness, now, seed)
    _, lead = harness.agent("Lena", ("lead",))
    now.advance(hours=30)  # running clocks fall due meanwhile
    got = harness.api("GET", "/api/reports/kpis?days=60", lead).json()
    want = recompute(harness)
    assert got["total"]["tickets"] == 28
    check_bucket(got["total"], want["total"]["all"], "total")
    for dimension in ("priority", "queue", "category", "agent"):
        assert set(got[f"by_{dimension}"]) == set(want[dimension]), dimension
        for key, bucket in got[f"by_{dimension}"].items():
            check_bucket(bucket, want[dimension][key], f"{dimension} {key}")
    # SLA compliance agrees with the SLA report, which replays each ticket's SLA events
    with harness.ctx.db.reading() as s:
        start, end = slareport.period(now(), None, None, 60)
        sla = slareport.compliance(harness.ctx, s, start, end)
    for group in ("total", "by_priority", "by_queue", "by_category"):
        buckets = {"all": got["total"]} if group == "total" else got[group]
        replayed = {"all": sla["total"]} if group == "total" else sla[group]
        for key, bucket in buckets.items():
            for clock in ("response", "resolution"):
                mine, theirs = bucket["sla"][clock], replayed[key][clock]
                assert (mine["met"], mine["breached"]) == (theirs["met"], theirs["breached"]), (
                    group,
                    key,
                    clock,
                )
    assert got["total"]["sla"]["response"]["breached"] > 0, "the histories include breaches"
    assert got["total"]["reopen"]["reopened"] > 0 and got["total"]["escalation"]["escalated"] > 0
    assert got["total"]["satisfaction"]["ratings"] > 0


def test_the_period_counts_tickets_opened_in_it_and_agents_are_refused(
    harness: Harness, now: FakeNow
) -> None:
    generate(harness, now, seed=3, tickets=4)
    first = now()
    now.advance(days=3)
    harness.open_ticket(subject="Later one")
    now.advance(minutes=5)
    _, lead = harness.agent("Lena", ("lead",))
    _, agent = harness.agent("Ari")
    since = (first + timedelta(days=1)).isoformat()
    only_later = harness.api("GET", "/api/reports/kpis", lead, params={"since": since}).json()
    assert only_later["total"]["tickets"] == 1
    refused = harness.api("GET", "/api/reports/kpis", agent)
    assert refused.status_code == 403 and "leads" in refused.json()["error"]["message"]
    bad = harness.api("GET", "/api/reports/kpis", lead, params={"since": "yesterday"})
    assert bad.status_code == 422 and "ISO date" in bad.json()["error"]["message"]


def test_report_kpis_on_the_command_line_gives_the_api_figures_and_text_never_says_none(
    harness: Harness, now: FakeNow, monkeypatch: Any
) -> None:
    generate(harness, now, seed=4, tickets=6)
    _, lead = harness.agent("Lena", ("lead",))
    monkeypatch.setattr("config.cli.admin.context", lambda _settings: harness.ctx)
    monkeypatch.setattr("config.cli.admin.load", lambda: harness.settings)
    runner = CliRunner()
    as_json = runner.invoke(main, ["report", "kpis", "--json", "--days", "60"])
    assert as_json.exit_code == 0, as_json.output
    from_api = harness.api("GET", "/api/reports/kpis?days=60", lead).json()
    assert json.loads(as_json.output) == from_api
    text = runner.invoke(main, ["report", "kpis", "--days", "60"])
    sla = runner.invoke(main, ["report", "sla", "--days", "60"])
    for out in (text, sla):
        assert out.exit_code == 0, out.output
        assert "None" not in out.output and "by priority" in out.output
    as_csv = runner.invoke(main, ["report", "kpis", "--csv", "--days", "60"])
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert rows[0][:3] == ["dimension", "group", "tickets"]
    assert rows[1][:3] == ["total", "all", str(from_api["total"]["tickets"])]


def test_metrics_count_intake_deliveries_sla_queues_and_escalations_from_the_database(
    harness: Harness,
) -> None:
    harness.fake.receive("client-1", "The printer is down", subject="Printer down")
    harness.fake.receive("client-2", "Slow VPN", subject="VPN")
    harness.settle()
    agent, _ = harness.agent("Ana")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 1, lock=True)
        workflow.escalate(harness.ctx, s, agent, t, reason="customer is upset")
    page = harness.client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    body = page.text
    assert "# TYPE switchboard_intake_total counter" in body
    assert 'switchboard_intake_total{channel="fake",outcome="open"} 2.0' in body
    assert 'switchboard_deliveries{channel="fake",status="sent"}' in body
    assert 'switchboard_queue_depth{queue="support",status="new"}' in body
    assert 'switchboard_open_tickets_sla{state="ok"} 2.0' in body
    assert 'switchboard_escalations{status="active"} 1.0' in body
