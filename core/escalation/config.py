"""Escalation policy: the chains, the rules that pick one, the groups they name.

Parsed and checked once per loaded policy (``config``; the process calls it at
start, so a bad entry stops it there, named). A chain is frozen onto each
escalation it starts (``Chain.frozen``, JSON on the row) and read back from the
row with ``Chain.of``, so later edits of the policy never change a running chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.escalation.notify import STAFF_CHANNELS
from core.models import Escalation
from core.policy import Policy, cached

TARGETS = ("queue", "oncall", "assignee", "agent", "role", "group")
NAMED = ("agent", "role", "group")  # targets that need a name after the colon
DEFAULT_REPEAT_MINUTES = 15


@dataclass(frozen=True)
class Step:
    """Wait ``wait_minutes`` (after the step before), then notify the target through
    the first of ``channels`` each person can be reached on.

    ``notify`` is ``queue`` (the queue's Slack channel), ``oncall`` or
    ``oncall:ROTATION``, ``assignee``, ``agent:EMAIL``, ``role:ROLE`` or ``group:NAME``.
    """

    wait_minutes: float
    notify: str
    channels: tuple[str, ...]

    @property
    def target(self) -> tuple[str, str]:
        """(kind, name): ``"group:admins"`` -> ``("group", "admins")``."""
        kind, _, name = self.notify.partition(":")
        return kind, name

    def to_json(self) -> dict[str, Any]:
        return {
            "wait_minutes": self.wait_minutes,
            "notify": self.notify,
            "channels": list(self.channels),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(data["wait_minutes"], str(data["notify"]), tuple(data["channels"]))


@dataclass(frozen=True)
class Chain:
    """The steps in order; with ``repeat``, they run again every
    ``repeat_every_minutes`` (plus the first step's wait) until acknowledged."""

    name: str
    steps: tuple[Step, ...]
    repeat: bool = True
    repeat_every_minutes: float = DEFAULT_REPEAT_MINUTES

    def frozen(self) -> list[dict[str, Any]]:
        """The chain as the escalation row keeps it: its steps, then a repeat marker."""
        marker = {"marker": "repeat", "repeat_every_minutes": self.repeat_every_minutes}
        return [step.to_json() for step in self.steps] + [marker]

    @classmethod
    def of(cls, esc: Escalation) -> Chain:
        """The chain frozen onto ``esc`` when it started."""
        steps = tuple(Step.from_json(s) for s in esc.steps if "notify" in s)
        marker = next((s for s in esc.steps if s.get("marker") == "repeat"), {})
        every = marker.get("repeat_every_minutes", DEFAULT_REPEAT_MINUTES)
        return cls(esc.chain, steps, esc.repeat, every)


@dataclass(frozen=True)
class ChainRule:
    chain: str
    priority: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationConfig:
    chains: dict[str, Chain]
    rules: tuple[ChainRule, ...]
    groups: dict[str, tuple[str, ...]]

    def chain_for(self, priority: str, queue: str | None) -> Chain:
        """The first rule's chain that matches priority and queue, else the default."""
        for rule in self.rules:
            if (not rule.priority or priority in rule.priority) and (
                not rule.queue or queue in rule.queue
            ):
                return self.chains[rule.chain]
        return self.chains["default"]


def config(policy: Policy) -> EscalationConfig:
    result: EscalationConfig = cached(policy, "escalation", _build)
    return result


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _minutes(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where} must be a number of minutes, 0 or more")
    return value


def _step(raw: Any, where: str, groups: dict[str, tuple[str, ...]]) -> Step:
    if not isinstance(raw, dict) or not raw.get("notify"):
        raise ConfigError(f'{where}: needs notify = "queue" / "oncall" / "group:NAME" / ...')
    step = Step(
        _minutes(raw.get("wait_minutes", 0), f"{where}: wait_minutes"),
        str(raw["notify"]),
        _tuple(raw.get("channels") or ["slack"]),
    )
    kind, name = step.target
    if kind not in TARGETS:
        raise ConfigError(f"{where}: unknown target '{step.notify}' (use {', '.join(TARGETS)})")
    if kind in NAMED and not name:
        raise ConfigError(f'{where}: "{kind}" needs a name: "{kind}:NAME"')
    if kind == "group" and name not in groups:
        raise ConfigError(f"{where}: group '{name}' is not in escalation.groups")
    bad = [c for c in step.channels if c not in STAFF_CHANNELS]
    if bad:
        raise ConfigError(
            f"{where}: unknown channel(s) {', '.join(bad)} (use {', '.join(STAFF_CHANNELS)})"
        )
    return step


def _build(policy: Policy) -> EscalationConfig:
    raw = policy.raw.get("escalation") or {}
    groups = {str(k): _tuple(v) for k, v in (raw.get("groups") or {}).items()}
    chains: dict[str, Chain] = {}
    for name, table in (raw.get("chains") or {}).items():
        where = f"escalation.chains.{name}"
        steps = tuple(
            _step(step, f"{where}.steps[{i}]", groups)
            for i, step in enumerate(table.get("steps") or [])
        )
        if not steps:
            raise ConfigError(f"{where}: needs at least one step")
        every = _minutes(
            table.get("repeat_every_minutes", DEFAULT_REPEAT_MINUTES),
            f"{where}: repeat_every_minutes",
        )
        chains[name] = Chain(name, steps, bool(table.get("repeat", True)), every)
    if "default" not in chains:
        raise ConfigError(
            "escalation.chains.default is missing (the chain used when no rule matches)"
        )
    rules = tuple(
        ChainRule(str(r["chain"]), _tuple(r.get("priority")), _tuple(r.get("queue")))
        for r in raw.get("rules") or []
    )
    for rule in rules:
        if rule.chain not in chains:
            raise ConfigError(f"escalation.rules: unknown chain '{rule.chain}'")
    return EscalationConfig(chains, rules, groups)
