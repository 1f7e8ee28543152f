"""The clock, escalation chains, acknowledgements, on-call, preferences and reports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from config.cli import main
from config.runtime import validate_policy
from core.dispatch import NullDispatcher
from core.errors import ConfigError
from core.escalation import acknowledging, oncall, stepping
from core.escalation.config import Chain
from core.escalation.config import config as escalation_config
from core.models import Agent, AuditEvent, Escalation, OutboxDelivery, Ticket
from core.policy import load_policy
from core.sla import watch as slawatch
from core.tickets import lookup, workflow
from tests.harness import Harness, at_once
from tests.sla_support import (
    MONDAY_9,
    POLICY,
    FakeNow,
    act,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
    wait_until,
)

NY = ZoneInfo("America/New_York")


def audit_actions(h: Harness, ticket_id: int) -> list[str]:
    with h.ctx.db.reading() as s:
        return list(
            s.execute(
                select(AuditEvent.action)
                .where(AuditEvent.ticket_id == ticket_id)
                .order_by(AuditEvent.id)
            ).scalars()
        )


def escalations(h: Harness, ticket_id: int) -> list[Escalation]:
    with h.ctx.db.reading() as s:
        rows = list(
            s.execute(select(Escalation).where(Escalation.ticket_id == ticket_id)).scalars()
        )
        s.expunge_all()
        return rows


def pings(h: Harness, ticket_id: int) -> list[OutboxDelivery]:
    with h.ctx.db.reading() as s:
        rows = list(
            s.execute(
                select(OutboxDelivery)
                .where(OutboxDelivery.ticket_id == ticket_id, OutboxDelivery.kind == "escalation")
                .order_by(OutboxDelivery.id)
            ).scalars()
        )
        s.expunge_all()
        return rows


def deliver_client_notices(h: Harness, now: FakeNow, count: int = 1) -> None:
    """Clients hear of the escalation a little after the staff pings: move past that,
    let the clock write the notices, and deliver them."""
    now.advance(seconds=slawatch.CLIENT_NOTICE_DELAY.total_seconds() + 1)
    slawatch.tick(h.ctx)

    def written() -> bool:
        with h.ctx.db.reading() as s:
            return (
                s.execute(
                    select(func.count())
                    .select_from(OutboxDelivery)
                    .where(OutboxDelivery.kind == "escalated")
                ).scalar_one()
                >= count
            )

    wait_until(written)
    h.settle()


def test_a_breach_reaches_the_on_call_agent_through_the_fake_channel_until_acknowledged(
    harness: Harness, now: FakeNow
) -> None:
    ana, _ = staff(harness, "Ana")
    _, ben_token = staff(harness, "Ben")
    staff(harness, "Root", roles=("admin",))
    # Given a P1 assigned to Ana (response met), with Ben on call this week
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    now.advance(minutes=5)
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.assign(harness.ctx, s, ana, t, assignee=s.get_one(Agent, ana.agent_id))
    # When 75% of the two-hour resolution target has gone, the clock warns Ana
    now.advance(minutes=86)
    assert slawatch.tick(harness.ctx) == 1
    wait_until(lambda: "sla_at_risk" in audit_actions(harness, ticket))
    harness.settle()
    assert [(m["kind"], m["recipient"]) for m in harness.sent() if m["kind"] == "sla_warning"] == [
        ("sla_warning", "ana-pager")
    ]
    # When the deadline passes, the ticket is escalated and Ben (on call) is pinged
    now.advance(minutes=30)
    assert slawatch.tick(harness.ctx) == 1
    wait_until(lambda: "escalation_step" in audit_actions(harness, ticket))
    assert slawatch.tick(harness.ctx) == 0, "a handled breach is not picked up again"
    deliver_client_notices(harness, now)
    sent = harness.sent()
    assert [m["recipient"] for m in sent if m["kind"] == "escalation"] == ["ben-pager"]
    notices = [m for m in sent if m["kind"] == "escalated"]
    assert len(notices) == 1 and notices[0]["recipient"] == "plant-7"
    assert "status update within 1 hour" in notices[0]["text"]
    shown = harness.ticket(ticket)
    assert shown["escalated"] is True and shown["sla"]["state"] == "red"
    assert (
        shown["sla"]["escalation"]["status"] == "active"
        and shown["sla"]["escalation"]["next_step"] == 2
    )
    # When the next step's delayed message arrives, the admin group is pinged
    (esc,) = escalations(harness, ticket)
    assert esc.token is not None, "a running chain names its next step"
    now.advance(minutes=5)
    assert stepping.step(harness.ctx, esc.id, esc.token)
    assert not stepping.step(harness.ctx, esc.id, esc.token), "the same message twice does nothing"
    harness.settle()
    assert [m["recipient"] for m in harness.sent() if m["kind"] == "escalation"] == [
        "ben-pager",
        "root-pager",
    ]
    # And the chain repeats from the first step until someone acknowledges
    (esc,) = escalations(harness, ticket)
    assert esc.token is not None and esc.step_index == 0 and esc.rounds == 1
    assert esc.next_step_at == now() + timedelta(minutes=10)
    response = harness.api(
        "POST", f"/api/tickets/{harness.ticket(ticket)['number']}/escalation/ack", ben_token
    )
    assert response.status_code == 200, response.text
    assert response.json()["sla"]["escalation"]["status"] == "acknowledged"
    # Ana had the ticket: Ben's acknowledgement leaves it hers
    assert response.json()["assignee"] == "Ana"
    assert audit_actions(harness, ticket).count("assign") == 1
    assert not stepping.step(harness.ctx, esc.id, esc.token), "a step after the ack does nothing"
    assert [m["recipient"] for m in harness.sent() if m["kind"] == "escalation"] == [
        "ben-pager",
        "root-pager",
    ]
    assert audit_actions(harness, ticket)[-1] == "escalation_acknowledged"
    # And acknowledging twice says there is nothing to acknowledge
    again = harness.api(
        "POST", f"/api/tickets/{harness.ticket(ticket)['number']}/escalation/ack", ben_token
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "escalation.none"


def test_a_step_that_cannot_reach_anyone_is_audited_as_a_failure(
    harness: Harness, now: FakeNow
) -> None:
    # Nobody named in the rotation exists as an agent
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    now.advance(minutes=16)
    slawatch.checkpoint(harness.ctx, ticket)
    events = audit_actions(harness, ticket)
    assert "escalation_step_failed" in events
    with harness.ctx.db.reading() as s:
        failed = s.execute(
            select(AuditEvent.data).where(AuditEvent.action == "escalation_step_failed")
        ).scalar_one()
    assert failed["problems"] == ["no active agent ben@support.example"]


def test_two_clocks_running_at_once_never_double_escalate(harness: Harness, now: FakeNow) -> None:
    staff(harness, "Ben")
    tickets = [
        open_ticket(harness, "P1", subject=f"Line {i} is down", address=f"plant-{i}")
        for i in range(6)
    ]
    now.advance(hours=3)  # every response and resolution target is broken

    def clock(run_checkpoints: bool) -> None:
        slawatch.tick(harness.ctx)
        if run_checkpoints:
            for ticket in tickets:
                slawatch.checkpoint(harness.ctx, ticket)

    at_once(*(partial(clock, i % 2 == 0) for i in range(4)))
    wait_until(lambda: all("escalation_step" in audit_actions(harness, t) for t in tickets))
    harness.settle()
    deliver_client_notices(harness, now, count=len(tickets))
    for ticket in tickets:
        assert len(escalations(harness, ticket)) == 1
        assert audit_actions(harness, ticket).count("escalate") == 1
        assert len(pings(harness, ticket)) == 1
    assert len([m for m in harness.sent() if m["kind"] == "escalated"]) == len(tickets), (
        "each client is told once"
    )


def test_an_ack_racing_a_step_never_leaves_a_ping_to_send_after_it(
    harness: Harness, now: FakeNow
) -> None:
    _, _ = staff(harness, "Ben")
    staff(harness, "Root", roles=("admin",))
    harness.ctx.dispatcher = NullDispatcher()  # nothing is delivered behind the test's back
    for round_ in range(6):
        now.set(MONDAY_9 + timedelta(days=round_))
        ticket = open_ticket(harness, "P1", subject="Line 2 is down", address=f"plant-r{round_}")
        now.advance(hours=3)
        slawatch.checkpoint(harness.ctx, ticket)
        (esc,) = escalations(harness, ticket)
        outcome: dict[str, Any] = {}

        def step(
            esc_id: int = esc.id, token: str = str(esc.token), outcome: dict[str, Any] = outcome
        ) -> None:
            outcome["stepped"] = stepping.step(harness.ctx, esc_id, token)

        def ack(ticket_id: int = ticket) -> None:
            with harness.ctx.db.transaction() as s:
                acknowledging.acknowledge(
                    harness.ctx, s, s.get_one(Ticket, ticket_id), by="agent:ben"
                )

        at_once(step, ack)
        (esc,) = escalations(harness, ticket)
        assert esc.status == "acknowledged"
        rows = pings(harness, ticket)
        assert rows, "the breach itself pinged the first step"
        assert all(r.created_at <= esc.acknowledged_at for r in rows)  # type: ignore[operator]
        assert all(r.status == "cancelled" for r in rows), (
            "pings not yet sent when the ack landed never leave"
        )


def test_quiet_hours_delay_a_warning_but_not_a_p1_one(harness: Harness, now: FakeNow) -> None:
    quiet = {"start": "10:00", "end": "16:00", "timezone": "America/New_York"}
    ana, _ = staff(harness, "Ana", quiet_hours=quiet)
    normal = open_ticket(harness, "P2")
    urgent = open_ticket(harness, "P1", subject="Line 2 is down", address="plant-9")
    for ticket in (normal, urgent):
        with harness.ctx.db.transaction() as s:
            workflow.assign(
                harness.ctx,
                s,
                ana,
                lookup.get_ticket(s, ticket, lock=True),
                assignee=s.get_one(Agent, ana.agent_id),
            )
    harness.ctx.dispatcher = NullDispatcher()
    # The P1 is at risk at 10:30, the P2's resolution at 15:00: both inside Ana's quiet hours
    now.set(datetime(2026, 11, 23, 10, 35, tzinfo=NY))
    slawatch.checkpoint(harness.ctx, urgent)
    now.set(datetime(2026, 11, 23, 15, 0, tzinfo=NY))
    slawatch.checkpoint(harness.ctx, normal)
    with harness.ctx.db.reading() as s:
        rows = {
            r.ticket_id: r
            for r in s.execute(
                select(OutboxDelivery).where(OutboxDelivery.kind == "sla_warning")
            ).scalars()
        }
        s.expunge_all()
    assert rows[normal].not_before == datetime(2026, 11, 23, 16, 0, tzinfo=NY).astimezone(UTC)
    assert rows[urgent].not_before is None


def test_a_hand_escalation_starts_the_chain_and_a_second_one_does_not_start_another(
    harness: Harness, now: FakeNow
) -> None:
    lead, _ = staff(harness, "Lee", roles=("lead",))
    staff(harness, "Ben")
    ticket = open_ticket(harness, "P3")
    act(harness, ticket, workflow.escalate, lead, reason="the client's CEO called")
    act(harness, ticket, workflow.escalate, lead, reason="called again")
    assert len(escalations(harness, ticket)) == 1
    assert len(pings(harness, ticket)) == 1


def test_a_chain_frozen_onto_an_escalation_reads_back_as_the_policy_gave_it(
    harness: Harness, now: FakeNow
) -> None:
    # Given a chain in the policy, and a ticket escalated by hand
    lead, _ = staff(harness, "Lee", roles=("lead",))
    ticket = open_ticket(harness, "P3")
    act(harness, ticket, workflow.escalate, lead, reason="the client's CEO called")
    # When its escalation row is read back
    (esc,) = escalations(harness, ticket)
    # Then it holds the configured chain, step by step, with its repeat
    chain = Chain.of(esc)
    assert chain == escalation_config(harness.ctx.policy).chains["default"]
    assert [(s.wait_minutes, s.notify, s.channels) for s in chain.steps] == [
        (0, "oncall", ("slack",)),
        (5, "group:admins", ("email",)),
    ]
    assert (chain.repeat, chain.repeat_every_minutes) == (True, 10)


@pytest.mark.parametrize(
    ("step", "named"),
    [
        ('{ wait_minutes = 5, notify = "oncal" }', "steps[1]: unknown target 'oncal'"),
        ('{ wait_minutes = 5, notify = "group:night" }', "steps[1]: group 'night' is not in"),
        ('{ wait_minutes = 5, notify = "role" }', 'steps[1]: "role" needs a name'),
        ('{ wait_minutes = -5, notify = "oncall" }', "steps[1]: wait_minutes must be a number"),
        ("{ wait_minutes = 5 }", "steps[1]: needs notify"),
        (
            '{ wait_minutes = 5, notify = "oncall", channels = ["pigeon"] }',
            "steps[1]: unknown channel(s) pigeon",
        ),
    ],
)
def test_a_bad_escalation_step_stops_the_start_naming_the_entry(
    tmp_path: Path, step: str, named: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'[escalation.chains.default]\nsteps = [{{ wait_minutes = 0, notify = "queue" }}, {step}]\n'
    )
    with pytest.raises(ConfigError, match=re.escape(f"escalation.chains.default.{named}")):
        validate_policy(load_policy(path))


def test_on_call_follows_the_weekly_rotation_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    policy = load_policy(path)
    who = {
        row["rotation"]: row
        for row in oncall.now_on_call(policy, datetime(2026, 11, 23, 13, 59, tzinfo=UTC))
    }
    assert who["primary"]["agent"] == "ana@support.example", (
        "before Monday 09:00 New York, last week's agent"
    )
    rotation = oncall.find(policy)
    assert rotation is not None
    assert rotation.who(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))[0] == "ben@support.example"
    assert rotation.who(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))[0] == "ana@support.example"
    agent, until, why = oncall.find(policy).who(datetime(2026, 12, 25, 12, 0, tzinfo=UTC))  # type: ignore[union-attr]
    assert (agent, why) == ("cara@support.example", "override")
    assert until == datetime(2026, 12, 27, 0, 0, tzinfo=NY)


def test_oncall_now_prints_who_is_on_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policy.toml").write_text(POLICY)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_CONFIG_FILE", str(tmp_path / "policy.toml"))
    assert CliRunner().invoke(main, ["migrate"]).exit_code == 0  # a deployment has a database
    result = CliRunner().invoke(main, ["oncall", "now", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["rotation"] == "primary" and row["agent"] in (
        "ana@support.example",
        "ben@support.example",
    )


def test_the_sla_report_gives_compliance_and_times_per_priority(
    harness: Harness, now: FakeNow, cli: CliRunner
) -> None:
    ana, token = staff(harness, "Ana")
    met = open_ticket(harness, "P2")
    open_ticket(harness, "P2", address="plant-8")  # never answered
    fast = open_ticket(harness, "P1", subject="Line 2 is down", address="plant-9")
    now.advance(minutes=30)
    act(harness, met, workflow.acknowledge, ana)
    act(harness, fast, workflow.acknowledge, ana)
    now.advance(minutes=60)
    act(harness, fast, workflow.resolve, ana, code="fixed", steps="Restarted the PLC.")
    now.advance(minutes=60)  # the second P2 was never answered: its hour is gone
    report = harness.api("GET", "/api/reports/sla?since=2026-11-01&until=2026-12-01", token).json()
    p2 = report["by_priority"]["P2"]
    assert p2["tickets"] == 2
    assert (
        p2["response"]["met"] == 1
        and p2["response"]["breached"] == 1
        and p2["response"]["met_share"] == 0.5
    )
    assert p2["response"]["average_minutes"] == 30.0
    p1 = report["by_priority"]["P1"]
    assert p1["resolution"]["met_share"] == 1.0 and p1["resolution"]["p90_minutes"] == 90.0
    assert report["by_queue"]["support"]["tickets"] == 3
    # The command line prints the same report
    result = cli.invoke(
        main, ["report", "sla", "--since", "2026-11-01", "--until", "2026-12-01", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["by_priority"]["P2"]["response"]["met"] == 1


def test_acknowledging_by_the_api_takes_a_ticket_nobody_has(harness: Harness, now: FakeNow) -> None:
    _, ben_token = staff(harness, "Ben")
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    now.advance(hours=3)
    slawatch.tick(harness.ctx)
    wait_until(lambda: "escalation_step" in audit_actions(harness, ticket))
    number = harness.ticket(ticket)["number"]
    assert harness.ticket(ticket)["status"] == "new"
    response = harness.api("POST", f"/api/tickets/{number}/escalation/ack", ben_token)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["status"] == "assigned" and shown["assignee"] == "Ben"
    assert shown["sla"]["response"]["met"] is False, "acknowledged late: still a breach"
    trail = [a for a in audit_actions(harness, ticket) if a != "delivered"]
    assert trail[-3:] == ["acknowledge", "assign", "escalation_acknowledged"]
    harness.settle()
    (told,) = [m for m in harness.sent() if m["kind"] == "assigned"]
    assert told["recipient"] == "plant-7" and "Ben" in told["text"]


def test_an_sla_warning_with_no_assignee_and_no_queue_channel_goes_to_who_is_on_call(
    harness: Harness, now: FakeNow
) -> None:
    staff(harness, "Ben")  # on call this week
    ticket = open_ticket(harness, "P2")
    # 75% of the one business hour response target: 09:45
    now.advance(minutes=46)
    assert slawatch.tick(harness.ctx) == 1
    wait_until(lambda: "sla_at_risk" in audit_actions(harness, ticket))
    harness.settle()
    assert [m["recipient"] for m in harness.sent() if m["kind"] == "sla_warning"] == ["ben-pager"]
    with harness.ctx.db.reading() as s:
        event = s.execute(
            select(AuditEvent).where(
                AuditEvent.ticket_id == ticket, AuditEvent.action == "sla_at_risk"
            )
        ).scalar_one()
        assert event.data["via"] == "oncall"
