"""The running clock and a fresh recomputation from events always agree.

The running clock moves one event at a time (a pause keeps the remaining open
time, a resume adds it back on the calendar) and is stored as JSON between
actions; the recomputation folds the whole history into open segments. They take
different paths through the calendar, across DST changes and holidays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.sla import clock as slaclock
from core.sla.calendar import ALWAYS, from_config
from core.sla.clock import Clock, Clocks, Event, Targets
from tests.sla_support import BUSINESS

SPLIT = from_config(
    "split",
    {
        "timezone": "Europe/London",
        "holidays_country": "GB",
        "holidays_region": "ENG",
        "dates": ["2026-10-26"],
        "hours": {
            d: ["07:30-12:00", "12:45-16:15", "18:00-20:00"]
            for d in ("mon", "tue", "wed", "thu", "fri")
        }
        | {"sat": ["10:00-14:00"]},
    },
)

POLICIES = [
    Targets("P1", timedelta(minutes=15), timedelta(hours=2), ALWAYS, 0.75),
    Targets("P2", timedelta(hours=1), timedelta(hours=8), BUSINESS, 0.75),
    Targets("P3", timedelta(hours=4), timedelta(hours=24), BUSINESS, 0.6),
    Targets("P4", timedelta(hours=8), None, BUSINESS, 0.75),
    Targets("split", timedelta(minutes=90), timedelta(hours=10), SPLIT, 0.8),
]

# Starts near the 2026 DST changes (US: 8 Mar, 1 Nov; UK: 29 Mar, 25 Oct) and US holidays.
STARTS = [
    datetime(2026, 3, 6, 20, tzinfo=UTC),
    datetime(2026, 10, 23, 14, tzinfo=UTC),
    datetime(2026, 10, 30, 19, tzinfo=UTC),
    datetime(2026, 11, 25, 15, tzinfo=UTC),
    datetime(2026, 12, 23, 21, tzinfo=UTC),
    datetime(2026, 7, 2, 12, tzinfo=UTC),
]

actions = st.lists(
    st.tuples(
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
        st.sampled_from(["respond", "pause", "resume", "resolve", "reopen", "policy"]),
        st.integers(min_value=0, max_value=len(POLICIES) - 1),
    ),
    max_size=14,
)


def roundtrip(clocks: Clocks) -> Clocks:
    """What storing the clocks on the ticket and reading them back gives."""
    return Clocks(
        *(Clock.from_json(c.to_json()) if c else None for c in (clocks.response, clocks.resolution))
    )


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from(STARTS),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
    first=st.integers(0, len(POLICIES) - 1),
    steps=actions,
)
def test_the_running_clock_equals_a_recomputation_from_events(
    start: datetime, offset: timedelta, first: int, steps: list[tuple[timedelta, str, int]]
) -> None:
    # Given a ticket opened under some policy
    targets = POLICIES[first]
    now = start + offset
    events = [Event(now, slaclock.START)]
    clocks = slaclock.advance(targets, Clocks(None, None), events[0])
    responded = paused = done = False
    # When actions happen, each moving the running clock as refresh does
    for gap, action, policy in steps:
        now += gap
        new: list[Event] = []
        if action == "respond" and not responded:
            responded = True
            new.append(Event(now, slaclock.RESPOND))
        elif action == "pause" and not paused and not done:
            paused = True
            new.append(Event(now, slaclock.PAUSE))
        elif action == "resume" and paused and not done:
            paused = False
            new.append(Event(now, slaclock.RESUME))
        elif action == "resolve" and not done:
            done, paused = True, False
            new.append(Event(now, slaclock.RESOLVE))
        elif action == "reopen" and done:
            done = False
            new.append(Event(now, slaclock.REOPEN))
        elif action == "policy" and POLICIES[policy] is not targets:
            targets = POLICIES[policy]
            events.append(Event(now, slaclock.POLICY))
            clocks = roundtrip(slaclock.recompute(targets, events))
            continue
        for event in new:
            events.append(event)
            clocks = roundtrip(slaclock.advance(targets, clocks, event))
    # Then a fresh recomputation from the events gives the very same clocks
    assert slaclock.recompute(targets, events) == clocks
