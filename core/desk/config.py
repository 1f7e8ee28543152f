"""The policy's ``[desk]`` section, checked once at start::

    [desk.unassigned_minutes]      # nobody assigned this long: escalate to the queue's lead
    P1 = 0
    P2 = 30
    P3 = 120
    P4 = 480

    [desk.hold_minutes]            # on hold this long: flagged for review, owner reminded
    P1 = 240
    P2 = 960
    P3 = 2400
    P4 = 4800

    [[desk.rules]]                 # per queue and/or priority: the first match wins
    name = "field service"
    queue = "field-service"
    priority = ["P3", "P4"]
    unassigned_minutes = 240       # false: never
    hold_minutes = 9600

Minutes run on the calendar of the ticket's SLA policy (business hours for a
business-hours priority, around the clock for P1). A queue's lead is
``[[queues]] lead = "EMAIL"``; a queue without one has every agent with the role
``lead``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.models import PRIORITIES
from core.policy import Policy, cached

LIMITS = ("unassigned_minutes", "hold_minutes")
NEVER = None


@dataclass(frozen=True)
class Limits:
    """How long a ticket may stay unassigned, and on hold (None: no limit)."""

    unassigned_minutes: float | None
    hold_minutes: float | None


@dataclass(frozen=True)
class DeskRule:
    name: str
    priority: tuple[str, ...]
    queue: tuple[str, ...]
    sets: dict[str, float | None]

    def matches(self, priority: str, queue: str | None) -> bool:
        return (not self.priority or priority in self.priority) and (
            not self.queue or queue in self.queue
        )


@dataclass(frozen=True)
class DeskConfig:
    defaults: dict[str, dict[str, float | None]]  # limit name -> priority -> minutes
    rules: tuple[DeskRule, ...]
    leads: dict[str, str]  # queue slug -> the lead's email

    def limits(self, priority: str, queue: str | None) -> Limits:
        """The limits for a ticket of this priority in this queue: the first matching
        rule's, the priority's for what the rule leaves out."""
        chosen = {name: self.defaults[name].get(priority) for name in LIMITS}
        rule = next((r for r in self.rules if r.matches(priority, queue)), None)
        if rule is not None:
            chosen.update(rule.sets)
        return Limits(chosen["unassigned_minutes"], chosen["hold_minutes"])


def config(policy: Policy) -> DeskConfig:
    result: DeskConfig = cached(policy, "desk", _build)
    return result


def _minutes(value: Any, where: str) -> float | None:
    if value is False:
        return NEVER
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where} must be a number of minutes, 0 or more (false: never)")
    return float(value)


def _names(value: Any, where: str, known: set[str] | tuple[str, ...]) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value if value is not None else ()
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where} must be a name or a list of names")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return tuple(names)


def _build(policy: Policy) -> DeskConfig:
    raw: Any = policy.raw.get("desk", {})
    if not isinstance(raw, dict):
        raise ConfigError("[desk] must be a table")
    defaults: dict[str, dict[str, float | None]] = {}
    for name in LIMITS:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"desk.{name} must be a table of minutes per priority (P1 = 0)")
        unknown = [p for p in table if p not in PRIORITIES]
        if unknown:
            raise ConfigError(
                f"desk.{name}: unknown priority {', '.join(unknown)} (use {', '.join(PRIORITIES)})"
            )
        defaults[name] = {p: _minutes(v, f"desk.{name}.{p}") for p, v in table.items()}
    queues = tuple(str(q["slug"]) for q in policy.queues)
    rules = []
    raw_rules = raw.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ConfigError("desk.rules must be a list of [[desk.rules]] tables")
    for i, table in enumerate(raw_rules):
        if not isinstance(table, dict):
            raise ConfigError(f"desk.rules[{i}] must be a table")
        name = str(table.get("name") or f"rule {i + 1}")
        where = f"desk.rules[{i}] '{name}'"
        extra = set(table) - {"name", "priority", "queue", *LIMITS}
        if extra:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(extra))} "
                f"(use name, priority, queue, {', '.join(LIMITS)})"
            )
        sets = {k: _minutes(table[k], f"{where} {k}") for k in LIMITS if k in table}
        if not sets:
            raise ConfigError(f"{where}: sets nothing (give unassigned_minutes or hold_minutes)")
        rules.append(
            DeskRule(
                name,
                _names(table.get("priority"), f"{where} priority", PRIORITIES),
                _names(table.get("queue"), f"{where} queue", queues),
                sets,
            )
        )
    leads: dict[str, str] = {}
    for queue in policy.queues:
        lead = queue.get("lead")
        if lead in (None, ""):
            continue
        if not isinstance(lead, str) or "@" not in lead:
            raise ConfigError(
                f"queues '{queue['slug']}' lead must be an agent's email address, not {lead!r}"
            )
        leads[str(queue["slug"])] = lead.strip().lower()
    return DeskConfig(defaults, tuple(rules), leads)
