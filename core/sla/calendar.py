"""Business calendars: when the SLA clock runs.

A calendar is a time zone, weekly opening hours (several spans a day for split
shifts and lunch breaks) and holidays (from the ``holidays`` library by country and
region, plus explicit dates). ``add`` and ``between`` are pure functions over
instants; they work on real UTC instants, so DST changes shorten or lengthen a
day exactly as the wall clock does. Amounts are ``timedelta`` (exact microseconds),
so ``between(a, add(a, x)) == x`` holds without rounding.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from core.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # a calendar with no open day in three years is a mistake
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Span = tuple[int, int]  # minutes from local midnight, end may be 1440


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in one time zone; ``always`` is the 24x7 calendar."""

    name: str
    timezone: str = "UTC"
    weekly: tuple[tuple[Span, ...], ...] = ((),) * 7
    country: str | None = None
    region: str | None = None
    dates: frozenset[date] = frozenset()
    always: bool = False
    _years: dict[int, frozenset[date]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, compare=False, hash=False, repr=False
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # Days and spans ---------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        if day in self.dates:
            return True
        if not self.country:
            return False
        year = self._years.get(day.year)
        if year is None:
            with self._lock:
                found = holidays_lib.country_holidays(
                    self.country, subdiv=self.region, years=day.year
                )
                year = frozenset(found.keys())
                self._years[day.year] = year
        return day in year

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open spans of one local day, as UTC instants (empty on holidays)."""
        if self.is_holiday(day):
            return []
        tz = self.tz
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        out = []
        for start, end in self.weekly[day.weekday()]:
            s = (midnight + timedelta(minutes=start)).astimezone(UTC)
            e = (
                (midnight + timedelta(minutes=end)).astimezone(UTC)
                if end < 1440
                else (
                    datetime.combine(
                        day + timedelta(days=1), datetime.min.time(), tzinfo=tz
                    ).astimezone(UTC)
                )
            )
            if e > s:
                out.append((s, e))
        return out

    def _local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    # The two operations -----------------------------------------------------------

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant at which ``amount`` of open time has passed since ``start``."""
        start = start.astimezone(UTC)  # arithmetic on real instants, never on wall clocks
        if amount <= timedelta(0):
            return start
        if self.always:
            return start + amount
        remaining = amount
        day = self._local_day(start) - timedelta(days=1)
        for _ in range(MAX_DAYS):
            for s, e in self.spans(day):
                if e <= start:
                    continue
                s = max(s, start)
                length = e - s
                if length >= remaining:
                    return s + remaining
                remaining -= length
            day += timedelta(days=1)
        raise ConfigError(
            f"calendar '{self.name}' has no open hours within {MAX_DAYS} days of {start.isoformat()}"
        )

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Open time from ``a`` to ``b`` (zero when ``b`` is not after ``a``)."""
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        if b <= a:
            return timedelta(0)
        if self.always:
            return b - a
        total = timedelta(0)
        day = self._local_day(a) - timedelta(days=1)
        last = self._local_day(b) + timedelta(days=1)
        while day <= last:
            for s, e in self.spans(day):
                lo, hi = max(s, a), min(e, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def is_open(self, instant: datetime) -> bool:
        if self.always:
            return True
        return any(s <= instant < e for s, e in self.spans(self._local_day(instant)))


ALWAYS = BusinessCalendar(name="24x7", always=True)


def parse_span(text: str, where: str) -> Span:
    match = _SPAN.match(text)
    if not match:
        raise ConfigError(f"{where}: '{text}' is not a span like 09:00-12:30")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start >= 1440 or end > 1440 or end <= start:
        raise ConfigError(f"{where}: '{text}' must run forwards within one day (00:00-24:00)")
    return start, end


def from_config(name: str, data: dict[str, object]) -> BusinessCalendar:
    """Build a calendar from its TOML table; raise ConfigError naming the problem."""
    where = f"calendars.{name}"
    if data.get("always"):
        return BusinessCalendar(name=name, always=True)
    timezone = str(data.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone '{timezone}'") from None
    hours = data.get("hours", {})
    if not isinstance(hours, dict):
        raise ConfigError(f'{where}.hours must be a table of day = ["09:00-17:00", ...]')
    weekly: list[tuple[Span, ...]] = []
    for day in DAYS:
        raw = hours.get(day, [])
        if isinstance(raw, str):
            raw = [raw]
        spans = sorted(parse_span(str(s), f"{where}.hours.{day}") for s in raw)
        for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise ConfigError(f"{where}.hours.{day}: spans overlap")
        weekly.append(tuple(spans))
    unknown = set(hours) - set(DAYS)
    if unknown:
        raise ConfigError(
            f"{where}.hours: unknown day(s) {', '.join(sorted(unknown))} (use {', '.join(DAYS)})"
        )
    if not any(weekly):
        raise ConfigError(f"{where}: no opening hours on any day")
    country = data.get("holidays_country") or None
    region = data.get("holidays_region") or None
    if country:
        try:
            holidays_lib.country_holidays(
                str(country), subdiv=str(region) if region else None, years=2026
            )
        except NotImplementedError:
            raise ConfigError(
                f"{where}: the holidays library does not know country '{country}' region '{region}'"
            ) from None
    try:
        dates = frozenset(date.fromisoformat(str(d)) for d in data.get("dates", []))  # type: ignore[attr-defined]
    except ValueError as exc:
        raise ConfigError(f"{where}.dates: {exc}") from None
    return BusinessCalendar(
        name=name,
        timezone=timezone,
        weekly=tuple(weekly),
        country=str(country) if country else None,
        region=str(region) if region else None,
        dates=dates,
    )
