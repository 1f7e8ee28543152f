"""SLA clocks on tickets: business hours, pauses, priority changes, reopening, state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ActionRefused
from core.principals import Principal
from core.sla import ticket as sla
from core.tickets import conversation, fields, lookup, workflow
from tests.harness import Harness, whole_system_examples
from tests.sla_support import (
    MONDAY_9,
    FakeNow,
    act,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
)

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(year, month, day, hour, minute, tzinfo=NY).isoformat()


def utc_iso(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(NY).isoformat()


@pytest.fixture
def ana(harness: Harness) -> Principal:
    return staff(harness, "Ana")[0]


def sla_of(h: Harness, ticket_id: int) -> dict:
    return h.ticket(ticket_id)["sla"]


def test_a_p2_opened_late_on_friday_is_due_on_monday_morning(
    harness: Harness, now: FakeNow
) -> None:
    # Given it is Friday 20 November, 16:30 in New York
    now.set(datetime(2026, 11, 20, 16, 30, tzinfo=NY))
    ticket = open_ticket(harness, "P2")
    shown = sla_of(harness, ticket)
    # Then the response (1 business hour) is due Monday 09:30 and resolution (8 h) Monday 16:30
    assert shown["policy"] == "P2"
    assert utc_iso(shown["response_due_at"]) == ny(2026, 11, 23, 9, 30)
    assert utc_iso(shown["resolution_due_at"]) == ny(2026, 11, 23, 16, 30)
    assert shown["state"] == "green"
    assert shown["response"]["due_at"] == shown["response_due_at"]


def test_a_p1_runs_around_the_clock(harness: Harness, now: FakeNow) -> None:
    now.set(datetime(2026, 11, 21, 23, 0, tzinfo=NY))  # Saturday night
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    shown = sla_of(harness, ticket)
    assert utc_iso(shown["response_due_at"]) == ny(2026, 11, 21, 23, 15)
    assert utc_iso(shown["resolution_due_at"]) == ny(2026, 11, 22, 1, 0)


def test_hold_pauses_the_resolution_clock_and_resume_gives_the_time_back(
    harness: Harness, now: FakeNow, ana: Principal
) -> None:
    ticket = open_ticket(harness, "P2")
    now.advance(minutes=30)
    act(harness, ticket, workflow.acknowledge, ana)
    now.advance(minutes=90)  # 11:00: two of the eight hours used
    act(harness, ticket, workflow.hold, ana, reason="waiting_on_client")
    paused = sla_of(harness, ticket)
    assert paused["resolution"]["paused"] is True
    assert paused["resolution_due_at"] is None
    assert paused["resolution"]["remaining_minutes"] == 360
    assert paused["response"]["met"] is True
    # When the client answers on Tuesday at 10:00
    now.set(datetime(2026, 11, 24, 10, 0, tzinfo=NY))
    act(harness, ticket, workflow.resume, ana)
    # Then six hours remain: due Tuesday 16:00
    assert utc_iso(sla_of(harness, ticket)["resolution_due_at"]) == ny(2026, 11, 24, 16, 0)


def test_a_priority_change_recomputes_both_deadlines_from_the_history(
    harness: Harness, now: FakeNow, ana: Principal
) -> None:
    ticket = open_ticket(harness, "P3")
    assert utc_iso(sla_of(harness, ticket)["response_due_at"]) == ny(2026, 11, 23, 13, 0)
    now.advance(minutes=60)
    act(harness, ticket, fields.set_priority, ana, priority="P1", reason="the whole line stopped")
    shown = sla_of(harness, ticket)
    # P1 from the ticket's start: response 09:15 (already broken), resolution 11:00
    assert shown["policy"] == "P1"
    assert utc_iso(shown["response_due_at"]) == ny(2026, 11, 23, 9, 15)
    assert utc_iso(shown["resolution_due_at"]) == ny(2026, 11, 23, 11, 0)
    assert shown["state"] == "red"


def test_reopening_restarts_the_resolution_clock_from_zero(
    harness: Harness, now: FakeNow, ana: Principal
) -> None:
    ticket = open_ticket(harness, "P2")
    act(harness, ticket, workflow.acknowledge, ana)
    now.advance(hours=3)
    act(harness, ticket, workflow.resolve, ana, code="fixed", steps="Cleaned the rollers.")
    assert sla_of(harness, ticket)["resolution"]["met"] is True
    now.set(datetime(2026, 11, 25, 9, 0, tzinfo=NY))
    act(harness, ticket, workflow.reopen, ana, reason="jams again")
    shown = sla_of(harness, ticket)
    assert utc_iso(shown["resolution_due_at"]) == ny(2026, 11, 25, 17, 0)
    assert shown["resolution"]["stopped_at"] is None
    assert shown["response"]["met"] is True, "the response clock is not restarted"


def test_the_running_clocks_match_a_recomputation_from_the_ticket_events(
    harness: Harness, now: FakeNow, ana: Principal
) -> None:
    ticket = open_ticket(harness, "P3")
    steps: list[tuple[int, Callable[..., Any], dict[str, Any]]] = [
        (20, workflow.acknowledge, {}),
        (100, workflow.hold, {"reason": "pending_parts", "parts_ref": "PO-1"}),
        (60 * 26, workflow.resume, {}),
        (45, fields.set_priority, {"priority": "P2", "reason": "more machines affected"}),
        (30, workflow.hold, {"reason": "waiting_on_client"}),
        (60 * 70, workflow.resume, {}),
        (15, workflow.resolve, {"code": "fixed", "steps": "Replaced the roller."}),
        (60 * 24, workflow.reopen, {}),
    ]
    for minutes, fn, kwargs in steps:
        now.advance(minutes=minutes)
        act(harness, ticket, fn, ana, **kwargs)
    with harness.ctx.db.reading() as s:
        t = lookup.get_ticket(s, ticket)
        assert sla.recompute_ticket(harness.ctx, s, t) == sla.load_clocks(t)
        kinds = [e.kind for e in sla.history(s, t.id)]
    assert kinds == [
        "start",
        "respond",
        "pause",
        "resume",
        "policy",
        "pause",
        "resume",
        "resolve",
        "reopen",
    ]


def test_a_contract_tier_rule_chooses_the_policy_and_the_ticket_records_it(
    harness: Harness, now: FakeNow
) -> None:
    ticket = open_ticket(harness, "P2", tier="premium")
    shown = sla_of(harness, ticket)
    assert shown["policy"] == "premium contract"
    # 30 minutes around the clock for the response; resolution keeps P2's 8 h, now 24x7 too
    assert utc_iso(shown["response_due_at"]) == ny(2026, 11, 23, 9, 30)
    assert utc_iso(shown["resolution_due_at"]) == ny(2026, 11, 23, 17, 0)
    assert open_ticket(harness, "P1", tier="premium") and sla_of(harness, 2)["policy"] == "P1"


def test_the_state_turns_yellow_at_three_quarters_of_the_target_and_red_after_it(
    harness: Harness, now: FakeNow
) -> None:
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    for minutes, expected in [(11, "green"), (11.25, "yellow"), (15, "yellow"), (15.01, "red")]:
        now.set(MONDAY_9)
        now.advance(minutes=minutes)
        assert sla_of(harness, ticket)["state"] == expected, minutes


STEPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60 * 80),  # minutes until the next action
        st.sampled_from(
            [
                "acknowledge",
                "reply",
                "hold",
                "resume",
                "resolve",
                "reopen",
                "priority",
                "category",
                "note",
            ]
        ),
        st.sampled_from(["P1", "P2", "P3", "P4"]),
    ),
    min_size=1,
    max_size=10,
)


@whole_system_examples(15)
@given(
    start=st.sampled_from(
        [
            datetime(2026, 10, 30, 16, 0, tzinfo=NY),
            datetime(2026, 11, 25, 15, 0, tzinfo=NY),
            datetime(2026, 3, 6, 12, 0, tzinfo=NY),
        ]
    ),
    steps=STEPS,
)
def test_whatever_agents_do_the_running_clocks_equal_a_recomputation(
    harness: Harness,
    now: FakeNow,
    ana: Principal,
    start: datetime,
    steps: list[tuple[int, str, str]],
) -> None:
    # Given a ticket opened near a DST change or a holiday
    now.set(start)
    ticket = open_ticket(harness, "P3")
    # When agents act on it in any order (refused actions change nothing)
    for minutes, action, priority in steps:
        now.advance(minutes=minutes)
        calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
            "acknowledge": (workflow.acknowledge, {}),
            "reply": (conversation.reply, {"text": "Looking into it."}),
            "hold": (workflow.hold, {"reason": "waiting_on_client"}),
            "resume": (workflow.resume, {}),
            "resolve": (workflow.resolve, {"code": "fixed", "steps": "Fixed it."}),
            "reopen": (workflow.reopen, {}),
            "priority": (fields.set_priority, {"priority": priority, "reason": "re-triaged"}),
            "category": (fields.file_under, {"field": "category", "slug": "hardware"}),
            "note": (conversation.note, {"text": "checked"}),
        }
        fn, kwargs = calls[action]
        try:
            act(harness, ticket, fn, ana, **kwargs)
        except ActionRefused:
            pass
    # Then the clocks the actions moved equal the ones recomputed from its events
    with harness.ctx.db.reading() as s:
        t = lookup.get_ticket(s, ticket)
        assert sla.recompute_ticket(harness.ctx, s, t) == sla.load_clocks(t)
