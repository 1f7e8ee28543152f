"""SLA clocks as pure values: the running clock and the recomputation from events.

A ticket has two clocks, response and resolution. Both are computed, never
accumulated by a timer: a clock is its target, its calendar and the events that
started, paused, resumed and stopped it.

Two ways lead to the same clock, and the tests hold them to it:

- ``advance`` applies one event to the stored clock (what every core action does):
  a pause keeps the remaining open time, a resume adds it back on the calendar;
- ``recompute`` folds the whole event list into open segments and finds the instant
  at which the target's open time is used up (what a priority change does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from core.sla.calendar import BusinessCalendar

# Event kinds, as stored in ``sla_events``.
START = "start"  # the ticket opened: both clocks start
RESPOND = "respond"  # acknowledgement or first public reply: the response clock stops
PAUSE = "pause"  # on hold: the resolution clock pauses
RESUME = "resume"
RESOLVE = "resolve"  # resolved or closed: the resolution clock stops
REOPEN = "reopen"  # the resolution clock starts again from zero
POLICY = "policy"  # a different policy applies: both are recomputed from history
KINDS = (START, RESPOND, PAUSE, RESUME, RESOLVE, REOPEN, POLICY)


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str


@dataclass(frozen=True)
class Clock:
    """One clock. ``due_at`` is None while paused before its deadline (``remaining`` says
    how much open time is left); a deadline crossed before a pause stays put."""

    target: timedelta
    risk: timedelta
    started_at: datetime
    due_at: datetime | None
    risk_at: datetime | None
    paused_at: datetime | None = None
    remaining: timedelta | None = None
    risk_remaining: timedelta | None = None
    stopped_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None and self.paused_at is None

    def breached(self, now: datetime) -> bool:
        end = self.stopped_at or self.paused_at or now
        return self.due_at is not None and end > self.due_at

    def at_risk(self, now: datetime) -> bool:
        end = self.stopped_at or self.paused_at or now
        return self.risk_at is not None and end >= self.risk_at

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, timedelta):
                out[key] = [value.days, value.seconds, value.microseconds]
            elif isinstance(value, datetime):
                out[key] = value.isoformat()
            else:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Clock:
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("target", "risk", "remaining", "risk_remaining"):
                values[key] = (
                    timedelta(days=value[0], seconds=value[1], microseconds=value[2])
                    if value is not None
                    else None
                )
            else:
                values[key] = datetime.fromisoformat(value) if value is not None else None
        return cls(**values)


def risk_share(target: timedelta, share: float) -> timedelta:
    return timedelta(microseconds=int(target / timedelta(microseconds=1) * share))


# The running clock ------------------------------------------------------------------


def start(calendar: BusinessCalendar, target: timedelta, share: float, at: datetime) -> Clock:
    risk = risk_share(target, share)
    return Clock(
        target=target,
        risk=risk,
        started_at=at,
        due_at=calendar.add(at, target),
        risk_at=calendar.add(at, risk),
    )


def pause(clock: Clock, calendar: BusinessCalendar, at: datetime) -> Clock:
    if not clock.running:
        return clock
    due, remaining = _hold(clock.due_at, calendar, at)
    risk_at, risk_remaining = _hold(clock.risk_at, calendar, at)
    return replace(
        clock,
        paused_at=at,
        due_at=due,
        remaining=remaining,
        risk_at=risk_at,
        risk_remaining=risk_remaining,
    )


def _hold(
    deadline: datetime | None, calendar: BusinessCalendar, at: datetime
) -> tuple[datetime | None, timedelta | None]:
    if deadline is None or at >= deadline:
        return deadline, None  # already crossed: the deadline stays where it was
    return None, calendar.between(at, deadline)


def resume(clock: Clock, calendar: BusinessCalendar, at: datetime) -> Clock:
    if clock.paused_at is None or clock.stopped_at is not None:
        return clock
    due = calendar.add(at, clock.remaining) if clock.remaining is not None else clock.due_at
    risk_at = (
        calendar.add(at, clock.risk_remaining)
        if clock.risk_remaining is not None
        else clock.risk_at
    )
    return replace(
        clock, paused_at=None, due_at=due, remaining=None, risk_at=risk_at, risk_remaining=None
    )


def stop(clock: Clock, at: datetime) -> Clock:
    if clock.stopped_at is not None:
        return clock
    return replace(clock, stopped_at=at)


# The recomputation --------------------------------------------------------------------


def used(
    calendar: BusinessCalendar,
    started_at: datetime,
    events: Iterable[Event],
    now: datetime,
    *,
    stops: tuple[str, ...] = (RESOLVE,),
) -> timedelta:
    """Open time a clock has used: up to its stop, or ``now`` while it runs."""
    segments, _, stopped_at = _segments(started_at, events, stops)
    end = stopped_at or now
    return sum((calendar.between(s, min(e or end, end)) for s, e in segments), timedelta(0))


def _segments(
    started_at: datetime, events: Iterable[Event], stops: tuple[str, ...]
) -> tuple[list[tuple[datetime, datetime | None]], datetime | None, datetime | None]:
    segments: list[tuple[datetime, datetime | None]] = []
    seg_start: datetime | None = started_at
    paused_at = stopped_at = None
    for event in events:
        if event.kind == PAUSE and seg_start is not None:
            segments.append((seg_start, event.at))
            seg_start, paused_at = None, event.at
        elif event.kind == RESUME and seg_start is None:
            seg_start, paused_at = event.at, None
        elif event.kind in stops:
            stopped_at = event.at
            break
    if seg_start is not None:
        segments.append((seg_start, None))  # running (or stopped while running): open-ended
    return segments, paused_at, stopped_at


def fold(
    calendar: BusinessCalendar,
    target: timedelta,
    share: float,
    started_at: datetime,
    events: Iterable[Event],
    *,
    stops: tuple[str, ...] = (RESOLVE,),
) -> Clock:
    """Compute a clock from its start and the pause/resume/stop events after it."""
    segments, paused_at, stopped_at = _segments(started_at, events, stops)
    risk = risk_share(target, share)
    due, remaining = _crossing(calendar, segments, target)
    risk_at, risk_remaining = _crossing(calendar, segments, risk)
    return Clock(
        target=target,
        risk=risk,
        started_at=started_at,
        due_at=due,
        risk_at=risk_at,
        paused_at=paused_at,
        remaining=remaining,
        risk_remaining=risk_remaining,
        stopped_at=stopped_at,
    )


def _crossing(
    calendar: BusinessCalendar, segments: list[tuple[datetime, datetime | None]], amount: timedelta
) -> tuple[datetime | None, timedelta | None]:
    used = timedelta(0)
    for s, e in segments:
        if e is None:
            return calendar.add(s, amount - used), None
        length = calendar.between(s, e)
        if used + length >= amount:
            return calendar.add(s, amount - used), None
        used += length
    return None, amount - used


@dataclass(frozen=True)
class Targets:
    """What a policy gives the clocks: targets (None: no clock) and a calendar."""

    name: str
    response: timedelta | None
    resolution: timedelta | None
    calendar: BusinessCalendar
    share: float

    @property
    def signature(self) -> str:
        return f"{self.name}|{self.response}|{self.resolution}|{self.calendar.name}|{self.share}"


@dataclass(frozen=True)
class Clocks:
    response: Clock | None
    resolution: Clock | None


def recompute(targets: Targets, events: list[Event]) -> Clocks:
    """Both clocks from the ticket's whole SLA event history."""
    opened = next((e for e in events if e.kind == START), None)
    if opened is None:
        return Clocks(None, None)
    response = None
    if targets.response is not None:
        respond = [e for e in events if e.kind == RESPOND][:1]
        response = fold(
            targets.calendar, targets.response, targets.share, opened.at, respond, stops=(RESPOND,)
        )
    resolution = None
    if targets.resolution is not None:
        last_start = max((i for i, e in enumerate(events) if e.kind in (START, REOPEN)))
        resolution = fold(
            targets.calendar,
            targets.resolution,
            targets.share,
            events[last_start].at,
            events[last_start + 1 :],
        )
    return Clocks(response, resolution)


def advance(targets: Targets, clocks: Clocks, event: Event) -> Clocks:
    """Apply one event to the running clocks (a POLICY event needs ``recompute``)."""
    cal, share = targets.calendar, targets.share
    response, resolution = clocks.response, clocks.resolution
    if event.kind == START:
        response = start(cal, targets.response, share, event.at) if targets.response else None
        resolution = start(cal, targets.resolution, share, event.at) if targets.resolution else None
    elif event.kind == RESPOND and response is not None:
        response = stop(response, event.at)
    elif event.kind == PAUSE and resolution is not None:
        resolution = pause(resolution, cal, event.at)
    elif event.kind == RESUME and resolution is not None:
        resolution = resume(resolution, cal, event.at)
    elif event.kind == RESOLVE and resolution is not None:
        resolution = stop(resolution, event.at)
    elif event.kind == REOPEN:
        resolution = start(cal, targets.resolution, share, event.at) if targets.resolution else None
    return Clocks(response, resolution)
