"""SLA policies from configuration: calendars, targets per priority, and the rules
that pick a different policy by contract tier, category or queue.

Read from the same TOML as the rest of the policy (``Policy.raw``):

- ``[calendars.NAME]``: business calendars (see ``core.calendar``); ``24x7`` is built in.
- ``[sla.P1]`` ... ``[sla.P4]``: the default policy per priority (``response_minutes``,
  ``resolution_minutes``, ``hours`` = a calendar name, ``client_update_minutes``).
- ``[[sla_rules]]``: first match wins; a rule matches on any of ``priority``, ``tier``,
  ``category``, ``queue`` it names and overrides the targets it names.
- ``sla_at_risk_share``: the share of a target used that turns a clock yellow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from core.errors import ConfigError
from core.models import PRIORITIES
from core.policy import Policy, cached
from core.sla.calendar import ALWAYS, BusinessCalendar, from_config

T = TypeVar("T")


@dataclass(frozen=True)
class SlaPolicy:
    """What a ticket is promised: response and resolution targets on a calendar."""

    name: str
    response: timedelta | None
    resolution: timedelta | None
    calendar: BusinessCalendar
    client_update_minutes: int | None = None


@dataclass(frozen=True)
class SlaRule:
    name: str
    priority: tuple[str, ...] = ()
    tier: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    overrides: dict[str, Any] | None = None

    def matches(
        self, priority: str, tier: str | None, category: str | None, queue: str | None
    ) -> bool:
        return all(
            not wanted or value in wanted
            for wanted, value in (
                (self.priority, priority),
                (self.tier, tier),
                (self.category, category),
                (self.queue, queue),
            )
        )


@dataclass(frozen=True)
class SlaConfig:
    calendars: dict[str, BusinessCalendar]
    defaults: dict[str, dict[str, Any]]
    rules: tuple[SlaRule, ...]
    at_risk_share: float

    def choose(
        self,
        priority: str,
        tier: str | None = None,
        category: str | None = None,
        queue: str | None = None,
    ) -> SlaPolicy | None:
        """The policy for a ticket: the first matching rule, else the priority's default."""
        base = self.defaults.get(priority)
        for rule in self.rules:
            if rule.matches(priority, tier, category, queue):
                return self._make(rule.name, {**(base or {}), **(rule.overrides or {})})
        if base is None:
            return None
        return self._make(priority, base)

    def _make(self, name: str, data: dict[str, Any]) -> SlaPolicy:
        response = data.get("response_minutes")
        resolution = data.get("resolution_minutes")
        return SlaPolicy(
            name=name[:60],
            response=timedelta(minutes=response) if response else None,
            resolution=timedelta(minutes=resolution) if resolution else None,
            calendar=self.calendars[data.get("hours", "business")],
            client_update_minutes=data.get("client_update_minutes"),
        )


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


TARGET_KEYS = ("response_minutes", "resolution_minutes", "hours", "client_update_minutes")


def _build(policy: Policy) -> SlaConfig:
    raw = policy.raw
    calendars: dict[str, BusinessCalendar] = {"24x7": ALWAYS}
    for name, table in (raw.get("calendars") or {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"calendars.{name} must be a table")
        calendars[name] = from_config(name, table)
    defaults: dict[str, dict[str, Any]] = {}
    for priority, table in (raw.get("sla") or {}).items():
        if priority not in PRIORITIES or not isinstance(table, dict):
            raise ConfigError(
                f"sla.{priority}: expected one table per priority ({', '.join(PRIORITIES)})"
            )
        defaults[priority] = {k: table[k] for k in TARGET_KEYS if k in table}
    rules = []
    for i, table in enumerate(raw.get("sla_rules") or []):
        name = str(table.get("name") or f"rule {i + 1}")
        rule = SlaRule(
            name=name,
            priority=_tuple(table.get("priority")),
            tier=_tuple(table.get("tier")),
            category=_tuple(table.get("category")),
            queue=_tuple(table.get("queue")),
            overrides={k: table[k] for k in TARGET_KEYS if k in table},
        )
        for p in rule.priority:
            if p not in PRIORITIES:
                raise ConfigError(f"sla_rules '{name}': unknown priority {p}")
        rules.append(rule)
    for where, data in [
        *((f"sla.{p}", d) for p, d in defaults.items()),
        *((f"sla_rules '{r.name}'", r.overrides or {}) for r in rules),
    ]:
        hours = data.get("hours")
        if hours is not None and hours not in calendars:
            raise ConfigError(
                f"{where}: hours = '{hours}' names no calendar (known: {', '.join(sorted(calendars))})"
            )
        for key in ("response_minutes", "resolution_minutes", "client_update_minutes"):
            value = data.get(key)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"{where}: {key} must be a positive whole number of minutes")
    if "business" not in calendars:
        raise ConfigError(
            "calendars.business is missing (the default calendar for business-hours policies)"
        )
    share = raw.get("sla_at_risk_share", 0.75)
    if not isinstance(share, int | float) or not 0 < share < 1:
        raise ConfigError(
            "sla_at_risk_share must be a number between 0 and 1 (0.75 = yellow at 75% used)"
        )
    return SlaConfig(
        calendars=calendars, defaults=defaults, rules=tuple(rules), at_risk_share=float(share)
    )


def config(policy: Policy) -> SlaConfig:
    """The SLA configuration of a loaded policy (parsed once); raises ConfigError."""
    result: SlaConfig = cached(policy, "sla", _build)
    return result
