"""The ``[alerts]`` section of the policy file: from an alert's labels to its ticket.

```toml
[alerts]
priority = "P3"                       # preventive maintenance unless a rule says otherwise
category = "preventive-maintenance"
queue = ""                            # empty: the default queue
asset_labels = ["asset"]              # the first of these labels an alert has names its machine
site_labels = ["site"]
resolve = false                       # a resolved alert also resolves its ticket
resolution_code = "alert-cleared"

[[alerts.rules]]                      # the first matching rule sets each field it names
name = "critical"
labels = { severity = "critical" }    # every label named must match; a list: any of its values
priority = "P1"
queue = "field-service"
category = "hardware"
asset = "PRESS-3"                     # a fixed machine, or asset_label = "host": read it there
resolve = true
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from core.models import PRIORITIES
from core.policy import Policy, cached


@dataclass(frozen=True)
class AlertRule:
    name: str
    labels: dict[str, tuple[str, ...]]
    priority: str | None = None
    category: str | None = None
    queue: str | None = None
    asset: str | None = None
    asset_label: str | None = None
    resolve: bool | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(name) in values for name, values in self.labels.items())


@dataclass(frozen=True)
class Mapped:
    """What one alert's ticket gets: the fields, and which rule chose each."""

    priority: str
    category: str
    queue: str | None
    asset: str | None
    site: str | None
    resolve: bool
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertPolicy:
    priority: str
    category: str
    queue: str | None
    asset_labels: tuple[str, ...]
    site_labels: tuple[str, ...]
    resolve: bool
    resolution_code: str
    rules: tuple[AlertRule, ...]

    def map(self, labels: dict[str, str]) -> Mapped:
        """The first matching rule sets each field it names; the section's defaults the rest."""
        chosen: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for rule in self.rules:
            if not rule.matches(labels):
                continue
            for name in ("priority", "category", "queue", "resolve"):
                value = getattr(rule, name)
                if value is not None and name not in chosen:
                    chosen[name], reasons[name] = value, f"alert rule '{rule.name}'"
            if "asset" not in chosen:
                if rule.asset:
                    chosen["asset"], reasons["asset"] = rule.asset, f"alert rule '{rule.name}'"
                elif rule.asset_label and labels.get(rule.asset_label):
                    chosen["asset"] = labels[rule.asset_label]
                    reasons["asset"] = f"label '{rule.asset_label}' (alert rule '{rule.name}')"
        if "asset" not in chosen:
            label = next((n for n in self.asset_labels if labels.get(n)), None)
            if label:
                chosen["asset"], reasons["asset"] = labels[label], f"label '{label}'"
        site_label = next((n for n in self.site_labels if labels.get(n)), None)
        return Mapped(
            priority=chosen.get("priority", self.priority),
            category=chosen.get("category", self.category),
            queue=chosen.get("queue", self.queue),
            asset=chosen.get("asset"),
            site=labels[site_label] if site_label else None,
            resolve=chosen.get("resolve", self.resolve),
            reasons=reasons,
        )


def _strings(value: Any, what: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{what} must be a string or a list of strings")
    return tuple(values)


def _build(policy: Policy) -> AlertPolicy:
    data: dict[str, Any] = policy.raw.get("alerts", {})
    where = "policy [alerts]"
    queues = {q["slug"] for q in policy.queues}
    categories = {c["slug"] for c in policy.categories}
    codes = {c["code"] for c in policy.resolution_codes}

    def check(name: str, priority: Any, category: Any, queue: Any) -> None:
        if priority is not None and priority not in PRIORITIES:
            raise ConfigError(
                f"{name}: priority {priority!r} is not one of {', '.join(PRIORITIES)}"
            )
        if category is not None and category not in categories:
            raise ConfigError(f"{name}: category {category!r} is not a listed category")
        if queue and queue not in queues:
            raise ConfigError(f"{name}: queue {queue!r} is not a listed queue")

    try:
        rules = []
        for raw in data.get("rules", []):
            name = f"{where} rule '{raw.get('name', '?')}'"
            labels = raw.get("labels") or {}
            if not isinstance(labels, dict) or not labels:
                raise ConfigError(f"{name}: labels must name at least one label to match")
            rule = AlertRule(
                name=raw["name"],
                labels={k: _strings(v, f"{name}: label {k}") for k, v in labels.items()},
                priority=raw.get("priority"),
                category=raw.get("category"),
                queue=raw.get("queue") or None,
                asset=raw.get("asset") or None,
                asset_label=raw.get("asset_label") or None,
                resolve=raw.get("resolve"),
            )
            check(name, rule.priority, rule.category, rule.queue)
            rules.append(rule)
        result = AlertPolicy(
            priority=data.get("priority", "P3"),
            category=data.get("category", policy.default_category),
            queue=data.get("queue") or None,
            asset_labels=_strings(data.get("asset_labels", ["asset"]), f"{where} asset_labels"),
            site_labels=_strings(data.get("site_labels", ["site"]), f"{where} site_labels"),
            resolve=bool(data.get("resolve", False)),
            resolution_code=data.get("resolution_code", "alert-cleared"),
            rules=tuple(rules),
        )
    except KeyError as exc:
        raise ConfigError(f"{where}: missing entry {exc}") from None
    check(where, result.priority, result.category, result.queue)
    if result.resolution_code not in codes:
        raise ConfigError(
            f"{where}: resolution_code {result.resolution_code!r} is not a listed resolution code"
        )
    return result


def config(policy: Policy) -> AlertPolicy:
    """The parsed section, once per loaded policy; raises ``ConfigError`` naming what is wrong."""
    return cached(policy, "alerts", _build)
