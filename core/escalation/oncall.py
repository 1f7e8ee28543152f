"""On-call rotations from configuration: who answers an escalation right now.

``[[oncall_rotations]]``: a list of agents (by email) handing off ``daily`` or
``weekly`` at a local time, counted from a start date, with overrides (an agent
for a date range) that win over the rotation. Pure functions of the instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigError
from core.policy import Policy, cached
from core.sla.calendar import DAYS


@dataclass(frozen=True)
class OnCallOverride:
    agent: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rotation:
    name: str
    agents: tuple[str, ...]
    handoff: str  # daily or weekly
    handoff_time: time
    handoff_day: int
    timezone: str
    start: date
    overrides: tuple[OnCallOverride, ...] = ()

    def _first_handoff(self) -> datetime:
        tz = ZoneInfo(self.timezone)
        day = self.start
        if self.handoff == "weekly":
            day += timedelta(days=(self.handoff_day - day.weekday()) % 7)
        return datetime.combine(day, self.handoff_time, tzinfo=tz)

    def _handoff(self, index: int) -> datetime:
        """The local wall-clock instant of the index-th handoff (DST-safe)."""
        first = self._first_handoff()
        step = 7 if self.handoff == "weekly" else 1
        day = first.date() + timedelta(days=step * index)
        return datetime.combine(day, self.handoff_time, tzinfo=first.tzinfo)

    def who(self, now: datetime) -> tuple[str, datetime | None, str]:
        """(agent email, on until, why): an override, else the rotation's turn."""
        for o in self.overrides:
            if o.start <= now < o.end:
                return o.agent, o.end, "override"
        first = self._first_handoff()
        local = now.astimezone(first.tzinfo)
        step = 7 if self.handoff == "weekly" else 1
        index = (local.date() - first.date()).days // step
        if self._handoff(index) > now:
            index -= 1
        agent = self.agents[index % len(self.agents)] if index >= 0 else self.agents[-1]
        until = self._handoff(index + 1)
        for o in self.overrides:
            if now < o.start < until:
                until = o.start
        return agent, until.astimezone(UTC), "rotation"


def _parse_time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: '{value}' is not a time like 09:00") from None


def _build(policy: Policy) -> tuple[Rotation, ...]:
    rotations = []
    for i, table in enumerate(policy.raw.get("oncall_rotations") or []):
        name = str(table.get("name") or f"rotation{i + 1}")
        where = f"oncall_rotations '{name}'"
        agents = tuple(str(a).lower() for a in table.get("agents", []))
        if not agents:
            raise ConfigError(f"{where}: needs a list of agents (emails)")
        handoff = table.get("handoff", "weekly")
        if handoff not in ("daily", "weekly"):
            raise ConfigError(f"{where}: handoff must be daily or weekly")
        day = str(table.get("handoff_day", "mon")).lower()[:3]
        if day not in DAYS:
            raise ConfigError(f"{where}: handoff_day must be one of {', '.join(DAYS)}")
        timezone = str(table.get("timezone", "UTC"))
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: unknown time zone '{timezone}'") from None
        try:
            start = date.fromisoformat(str(table.get("start", "2026-01-05")))
            overrides = tuple(
                OnCallOverride(
                    agent=str(o["agent"]).lower(),
                    start=_instant(o["from"], tz),
                    end=_instant(o["to"], tz),
                )
                for o in table.get("overrides", [])
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{where}: bad start or override ({exc})") from None
        rotations.append(
            Rotation(
                name,
                agents,
                handoff,
                _parse_time(table.get("handoff_time", "09:00"), where),
                DAYS.index(day),
                timezone,
                start,
                overrides,
            )
        )
    return tuple(rotations)


def _instant(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def rotations(policy: Policy) -> tuple[Rotation, ...]:
    result: tuple[Rotation, ...] = cached(policy, "oncall", _build)
    return result


def find(policy: Policy, name: str | None = None) -> Rotation | None:
    rots = rotations(policy)
    if not rots:
        return None
    if name is None:
        return rots[0]
    return next((r for r in rots if r.name == name), None)


def now_on_call(policy: Policy, now: datetime) -> list[dict[str, Any]]:
    """Who is on call in every rotation at ``now``."""
    out = []
    for rotation in rotations(policy):
        agent, until, why = rotation.who(now)
        out.append(
            {
                "rotation": rotation.name,
                "agent": agent,
                "until": until.isoformat() if until else None,
                "why": why,
            }
        )
    return out
