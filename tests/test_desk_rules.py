"""The desk's workflow rules, run by the clock: a ticket left unassigned escalates to
its queue's lead, a hold past its limit is flagged for review and its owner reminded,
a low satisfaction score opens a follow-up for the lead. Each once per condition."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from config.cli import main
from config.runtime import validate_policy
from config.settings import Settings
from core.desk import watch as deskwatch
from core.errors import ConfigError
from core.models import Agent, OutboxDelivery, ResolutionRecord
from core.policy import load_policy
from core.satisfaction import answering
from core.tickets import lookup, workflow
from core.tokens import satisfaction_token
from tests.harness import Harness, at_once
from tests.sla_support import POLICY, FakeNow, sla_settings, staff, wait_until
from tests.test_escalation import audit_actions as actions

NY = ZoneInfo("America/New_York")

LEADS = """
[[queues]]
slug = "support"
name = "Support"
slack_channel = ""
lead = "lena@support.example"

[[queues]]
slug = "field-service"
name = "Field service"
slack_channel = ""
"""

DESK = (
    POLICY
    + LEADS
    + """
[[desk.rules]]
name = "field service never chases assignment"
queue = "field-service"
unassigned_minutes = false
"""
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    return sla_settings(tmp_path, database_url, broker_url, DESK)


def sent(h: Harness, kind: str) -> list[str]:
    h.settle()
    return [m["recipient"] for m in h.sent() if m["kind"] == kind]


def follow_ups(h: Harness, ticket_id: int) -> list[dict[str, Any]]:
    return list(h.ticket(ticket_id)["follow_ups"])


def run_clock(h: Harness, *, expect: str | None = None, ticket_id: int | None = None) -> int:
    """One desk tick; with ``expect``, wait until the ticket's audit shows it."""
    claimed = deskwatch.tick(h.ctx)
    if expect is not None and ticket_id is not None:
        wait_until(lambda: expect in actions(h, ticket_id), what=expect)
    h.settle()
    return claimed


def test_an_unassigned_ticket_escalates_to_its_queue_lead_once_and_assigning_ends_it(
    harness: Harness, now: FakeNow
) -> None:
    staff(harness, "Lena", roles=("lead",))
    ana, _ = staff(harness, "Ana")
    # Given a standard (P3) ticket opened Monday 09:00 in the support queue
    ticket = harness.open_ticket(subject="Label printer jams", priority="P3", queue="support")
    # When nobody is assigned for 1 h 59 the clock does nothing
    now.advance(minutes=119)
    assert run_clock(harness) == 0
    assert sent(harness, "desk_unassigned") == []
    # When two hours pass, the queue's lead is pinged and a follow-up is open for her
    now.advance(minutes=2)
    assert run_clock(harness, expect="unassigned_escalated", ticket_id=ticket) == 1
    assert sent(harness, "desk_unassigned") == ["lena-pager"]
    (ping,) = [m for m in harness.sent() if m["kind"] == "desk_unassigned"]
    assert "nobody assigned for 2 h 1 min" in ping["text"] and "T-000001" in ping["text"]
    (follow_up,) = follow_ups(harness, ticket)
    assert follow_up["kind"] == "unassigned" and follow_up["status"] == "open"
    assert follow_up["for"]["email"] == "lena@support.example"
    # And it never fires again for the same spell, however long the clock runs
    for _ in range(3):
        now.advance(hours=5)
        assert run_clock(harness) == 0
    assert sent(harness, "desk_unassigned") == ["lena-pager"]
    assert actions(harness, ticket).count("unassigned_escalated") == 1
    # When Ana is assigned, the follow-up is done by itself, and audited
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.assign(harness.ctx, s, ana, t, assignee=s.get_one(Agent, ana.agent_id))
    (follow_up,) = follow_ups(harness, ticket)
    assert follow_up["status"] == "done" and follow_up["note"] == "assigned"
    trail = actions(harness, ticket)
    assert trail.index("assign") == trail.index("follow_up_done") + 1, "in the same change"


def test_an_urgent_ticket_escalates_at_once_and_business_hours_count_for_standard_ones(
    harness: Harness, now: FakeNow
) -> None:
    staff(harness, "Lena", roles=("lead",))
    # Given Friday 16:30 in New York: a P1 and a P3 come in, nobody takes them
    now.set(datetime(2026, 11, 20, 16, 30, tzinfo=NY))
    urgent = harness.open_ticket(subject="Line 2 stopped", priority="P1", queue="support")
    standard = harness.open_ticket(subject="Label printer jams", priority="P3", queue="support")
    # The P1 escalates on the very next tick
    assert run_clock(harness, expect="unassigned_escalated", ticket_id=urgent) == 1
    assert "unassigned_escalated" not in actions(harness, standard)
    # The P3 has 30 business minutes on Friday and needs 90 more on Monday: 10:30
    now.set(datetime(2026, 11, 23, 10, 29, tzinfo=NY))
    assert run_clock(harness) == 0
    now.set(datetime(2026, 11, 23, 10, 31, tzinfo=NY))
    assert run_clock(harness, expect="unassigned_escalated", ticket_id=standard) == 1
    assert sent(harness, "desk_unassigned") == ["lena-pager", "lena-pager"]


def test_a_queue_rule_turns_the_unassigned_limit_off_for_its_queue(
    harness: Harness, now: FakeNow
) -> None:
    staff(harness, "Lena", roles=("lead",))
    ticket = harness.open_ticket(subject="Visit needed", priority="P3", queue="field-service")
    now.advance(days=3)
    assert run_clock(harness) == 0
    assert "unassigned_escalated" not in actions(harness, ticket)
    assert follow_ups(harness, ticket) == []


def test_a_queue_without_a_lead_escalates_to_every_lead_and_with_none_says_it_went_nowhere(
    harness: Harness, now: FakeNow
) -> None:
    # The support queue's named lead is no agent here, and nobody has the role "lead"
    t = harness.open_ticket(subject="Visit", priority="P1", queue="support")
    assert run_clock(harness, expect="unassigned_escalated_unsent", ticket_id=t) == 1
    (follow_up,) = follow_ups(harness, t)
    assert follow_up["for"] is None, "Lena (the named lead) is not an agent here"
    # With two agents holding the lead role, both hear of the next one
    staff(harness, "Mo", roles=("lead",))
    staff(harness, "Noor", roles=("agent", "lead"))
    second = harness.open_ticket(subject="Line 3 stopped", priority="P1", queue="support")
    assert run_clock(harness, expect="unassigned_escalated", ticket_id=second) == 1
    assert sorted(sent(harness, "desk_unassigned")) == ["mo-pager", "noor-pager"]


def test_a_hold_past_its_limit_is_flagged_for_review_and_the_owner_reminded_once(
    harness: Harness, now: FakeNow
) -> None:
    ana, _ = staff(harness, "Ana")
    ticket = harness.open_ticket(subject="Label printer jams", priority="P2", queue="support")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.assign(harness.ctx, s, ana, t, assignee=s.get_one(Agent, ana.agent_id))
        workflow.hold(harness.ctx, s, ana, t, reason="waiting_on_client")
    # A P2 hold may last two business days (16 business hours): Tuesday 17:00
    now.set(datetime(2026, 11, 24, 16, 59, tzinfo=NY))
    assert run_clock(harness) == 0
    now.set(datetime(2026, 11, 24, 17, 1, tzinfo=NY))
    assert run_clock(harness, expect="hold_review_flagged", ticket_id=ticket) == 1
    assert sent(harness, "desk_hold_review") == ["ana-pager"]
    (follow_up,) = follow_ups(harness, ticket)
    assert follow_up["kind"] == "hold_review" and follow_up["for"]["email"] == "ana@support.example"
    assert "waiting on client" in follow_up["reason"]
    now.advance(days=2)
    assert run_clock(harness) == 0
    assert sent(harness, "desk_hold_review") == ["ana-pager"], "reminded once"
    # When Ana resumes, the flag is cleared; a new hold is a new spell with its own limit
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.resume(harness.ctx, s, ana, t)
    assert follow_ups(harness, ticket)[0]["status"] == "done"
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        until = now() + timedelta(hours=3)
        workflow.hold(harness.ctx, s, ana, t, reason="pending_parts", parts_ref="PO-7", until=until)
    # With a review date given, that date is the limit
    now.advance(hours=2, minutes=59)
    assert run_clock(harness) == 0
    now.advance(minutes=2)
    assert run_clock(harness) == 1
    wait_until(lambda: actions(harness, ticket).count("hold_review_flagged") == 2)
    assert sent(harness, "desk_hold_review") == ["ana-pager", "ana-pager"]
    latest = follow_ups(harness, ticket)[0]
    assert latest["status"] == "open" and "past its review date" in latest["reason"]


def test_a_reminder_waits_for_the_end_of_the_owner_s_quiet_hours(
    harness: Harness, now: FakeNow
) -> None:
    quiet = {"start": "00:00", "end": "23:59", "timezone": "America/New_York"}
    ana, _ = staff(harness, "Ana", quiet_hours=quiet)
    ticket = harness.open_ticket(subject="Jams", priority="P3", queue="support")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.assign(harness.ctx, s, ana, t, assignee=s.get_one(Agent, ana.agent_id))
        until = now() + timedelta(minutes=1)
        workflow.hold(harness.ctx, s, ana, t, reason="waiting_on_client", until=until)
    now.advance(minutes=2)
    deskwatch.tick(harness.ctx)
    wait_until(lambda: "hold_review_flagged" in actions(harness, ticket))
    with harness.ctx.db.reading() as s:
        (row,) = s.execute(
            select(OutboxDelivery).where(OutboxDelivery.kind == "desk_hold_review")
        ).scalars()
        assert row.not_before is not None and row.not_before > now()
    assert [m for m in harness.sent() if m["kind"] == "desk_hold_review"] == [], "not now"


def test_two_clocks_at_once_escalate_each_ticket_once(harness: Harness, now: FakeNow) -> None:
    staff(harness, "Lena", roles=("lead",))
    tickets = [
        harness.open_ticket(subject=f"Line {i}", priority="P1", queue="support") for i in range(6)
    ]

    def clock(run_checkpoints: bool) -> None:
        deskwatch.tick(harness.ctx)
        if run_checkpoints:
            deskwatch.checkpoint_many(harness.ctx, tickets)

    at_once(*(partial(clock, i % 2 == 0) for i in range(4)))
    wait_until(lambda: all("unassigned_escalated" in actions(harness, t) for t in tickets))
    for ticket in tickets:
        assert actions(harness, ticket).count("unassigned_escalated") == 1
        assert len(follow_ups(harness, ticket)) == 1
    assert len(sent(harness, "desk_unassigned")) == len(tickets)


def test_a_low_rating_opens_a_follow_up_for_the_lead_done_by_api_and_by_the_command(
    harness: Harness, now: FakeNow, cli: CliRunner
) -> None:
    lena, lena_token = staff(harness, "Lena", roles=("lead",))
    ana, ana_token = staff(harness, "Ana")
    ticket = harness.open_ticket(subject="Jams", priority="P3", queue="support")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.assign(harness.ctx, s, ana, t, assignee=s.get_one(Agent, ana.agent_id))
        workflow.resolve(harness.ctx, s, ana, t, code="fixed", steps="Cleaned the rollers.")
        resolution = s.execute(select(ResolutionRecord.id)).scalar_one()
    token = satisfaction_token(harness.ctx.secret, resolution)
    # When the client rates it 2 of 5, the lead is told and a follow-up is open for her
    with harness.ctx.db.transaction() as s:
        answering.answer(harness.ctx, s, token, rating=2)
    assert sent(harness, "satisfaction_low") == ["lena-pager"]
    (follow_up,) = follow_ups(harness, ticket)
    assert follow_up["kind"] == "satisfaction" and follow_up["for"]["name"] == "Lena"
    # Lowering it again changes the answer but opens no second follow-up
    with harness.ctx.db.transaction() as s:
        answering.answer(harness.ctx, s, token, rating=3)
        answering.answer(harness.ctx, s, token, rating=1)
    assert len(follow_ups(harness, ticket)) == 1
    # Lena sees it among hers; Ana has none
    mine = harness.api("GET", "/api/follow-ups?mine=true", lena_token).json()["follow_ups"]
    assert [f["id"] for f in mine] == [follow_up["id"]]
    assert harness.api("GET", "/api/follow-ups?mine=true", ana_token).json()["follow_ups"] == []
    # Lena marks it done with a note; doing it twice says it was done, and by whom
    done = harness.api(
        "POST",
        f"/api/follow-ups/{follow_up['id']}/done",
        lena_token,
        json={"note": "Called the client; replaced the roller."},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done" and done.json()["done_by"].endswith(":Lena")
    again = harness.api("POST", f"/api/follow-ups/{follow_up['id']}/done", lena_token)
    assert again.status_code == 409 and again.json()["error"]["code"] == "follow_up.done"
    missing = harness.api("POST", "/api/follow-ups/999/done", lena_token)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "follow_up.unknown"
    assert "follow_up_done" in actions(harness, ticket)
    assert harness.api("GET", "/api/follow-ups", ana_token).json()["follow_ups"] == []
    # The command lists them too, done ones on asking
    listed = cli.invoke(main, ["follow-ups", "list", "--status", "all", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)["follow_ups"]
    assert row["note"] == "Called the client; replaced the roller."
    assert cli.invoke(main, ["follow-ups", "list"]).output.strip() == "none"
    refused = cli.invoke(
        main, ["follow-ups", "done", str(row["id"]), "--as", "ana@support.example"]
    )
    assert refused.exit_code == 1 and "was done already" in refused.output
    shown = cli.invoke(main, ["tickets", "show", "T-000001"])
    assert "follow-up #1 for Lena, done (Called the client; replaced the roller.)" in shown.output


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[desk.unassigned_minutes]\nP9 = 5\n", "desk.unassigned_minutes: unknown priority P9"),
        ("[desk.hold_minutes]\nP2 = -1\n", "desk.hold_minutes.P2 must be a number of minutes"),
        (
            '[[desk.rules]]\nname = "x"\nqueue = "nowhere"\nhold_minutes = 5\n',
            "desk.rules[0] 'x' queue: unknown nowhere",
        ),
        ('[[desk.rules]]\nname = "y"\npriority = "P1"\n', "desk.rules[0] 'y': sets nothing"),
        (
            LEADS.replace('lead = "lena@support.example"', 'lead = "lena"'),
            "queues 'support' lead must be an agent's email address",
        ),
    ],
)
def test_a_bad_desk_rule_stops_the_start_naming_the_entry(
    tmp_path: Path, extra: str, named: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(extra)
    with pytest.raises(ConfigError) as caught:
        validate_policy(load_policy(path))
    assert named in str(caught.value)
