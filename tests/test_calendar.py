"""Business calendars: open time across weekends, holidays, split shifts and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.sla.calendar import ALWAYS, from_config
from tests.sla_support import BUSINESS

NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)

SPLIT = from_config(
    "split",
    {
        "timezone": "Europe/Berlin",
        "holidays_country": "DE",
        "holidays_region": "BY",
        "dates": ["2026-12-24"],
        "hours": {
            "mon": ["08:00-12:00", "13:00-17:00"],
            "tue": ["08:00-12:00", "13:00-17:00"],
            "wed": ["08:00-12:00", "13:00-17:00"],
            "thu": ["08:00-12:00", "13:00-17:00"],
            "fri": ["08:00-12:00"],
            "sat": ["22:00-24:00"],
            "sun": ["00:00-03:00"],
        },
    },
)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def test_an_hour_asked_for_late_on_friday_is_due_on_monday_morning() -> None:
    assert BUSINESS.add(ny(2026, 11, 20, 16, 30), H) == ny(2026, 11, 23, 9, 30)


def test_a_request_on_saturday_starts_counting_on_monday_at_nine() -> None:
    assert BUSINESS.add(ny(2026, 11, 21, 11, 0), 4 * H) == ny(2026, 11, 23, 13, 0)


def test_thanksgiving_is_skipped() -> None:
    # Wednesday 16:00 + 2h: Thursday 26 Nov 2026 is Thanksgiving, so Friday 10:00
    assert BUSINESS.add(ny(2026, 11, 25, 16, 0), 2 * H) == ny(2026, 11, 27, 10, 0)


def test_a_deadline_that_uses_up_the_day_exactly_is_the_close_of_business() -> None:
    assert BUSINESS.add(ny(2026, 11, 23, 9, 0), 8 * H) == ny(2026, 11, 23, 17, 0)


def test_one_business_day_over_a_dst_change_is_eight_open_hours() -> None:
    # DST ends on Sunday 1 Nov 2026: Friday 30 Oct 15:00 EDT + 8h -> Monday 2 Nov 15:00 EST
    due = BUSINESS.add(ny(2026, 10, 30, 15, 0), 8 * H)
    assert due == ny(2026, 11, 2, 15, 0)
    assert due - ny(2026, 10, 30, 15, 0) == timedelta(days=3, hours=1), (
        "the wall clock moved back one hour"
    )


def test_a_24x7_clock_across_spring_forward_counts_real_time() -> None:
    start = ny(2026, 3, 8, 1, 30)  # 02:00 EST becomes 03:00 EDT this night
    due = ALWAYS.add(start, H)
    assert due.astimezone(NY).hour == 3 and due.astimezone(NY).minute == 30


def test_split_shifts_skip_the_lunch_break() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 23, 11, 0, tzinfo=berlin)
    assert SPLIT.add(start, 2 * H) == datetime(2026, 11, 23, 14, 0, tzinfo=berlin)
    assert SPLIT.between(start, datetime(2026, 11, 23, 14, 0, tzinfo=berlin)) == 2 * H


def test_regional_holidays_and_explicit_dates_close_the_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 6 January (Epiphany) is a holiday in Bavaria; 24 December is listed explicitly
    assert SPLIT.spans(date(2026, 1, 6)) == []
    assert SPLIT.spans(date(2026, 12, 24)) == []
    assert SPLIT.spans(date(2026, 1, 7))
    start = datetime(2026, 1, 5, 16, 0, tzinfo=berlin)
    assert SPLIT.add(start, 2 * H) == datetime(2026, 1, 7, 9, 0, tzinfo=berlin)


def test_shifts_running_past_midnight_join_up() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(
        2026, 11, 28, 23, 0, tzinfo=berlin
    )  # Saturday 22:00-24:00 then Sunday 00:00-03:00
    assert SPLIT.add(start, 2 * H) == datetime(2026, 11, 29, 1, 0, tzinfo=berlin)


def test_a_calendar_with_overlapping_spans_or_unknown_zone_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="calendars.bad.hours.mon: spans overlap"):
        from_config("bad", {"hours": {"mon": ["09:00-12:00", "11:00-13:00"]}})
    with pytest.raises(ConfigError, match="unknown time zone"):
        from_config("bad", {"timezone": "Mars/Olympus", "hours": {"mon": ["09:00-12:00"]}})
    with pytest.raises(ConfigError, match="no opening hours"):
        from_config("bad", {"hours": {}})


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
amounts = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60))


@settings(max_examples=150, deadline=None)
@given(start=instants, amount=amounts, cal=st.sampled_from([BUSINESS, SPLIT, ALWAYS]))
def test_adding_open_time_and_measuring_it_back_agree(
    start: datetime, amount: timedelta, cal: object
) -> None:
    due = cal.add(start, amount)  # type: ignore[attr-defined]
    assert cal.between(start, due) == amount  # type: ignore[attr-defined]
    assert due >= start


@settings(max_examples=150, deadline=None)
@given(a=instants, b=amounts, c=amounts, cal=st.sampled_from([BUSINESS, SPLIT]))
def test_open_time_adds_up_over_consecutive_intervals(
    a: datetime, b: timedelta, c: timedelta, cal: object
) -> None:
    m, e = a + b, a + b + c
    assert cal.between(a, m) + cal.between(m, e) == cal.between(a, e)  # type: ignore[attr-defined]
