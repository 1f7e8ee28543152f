"""Policies from configuration: routing rules, reference data and SLA targets.

Read from ``config/defaults.toml``, overlaid by the operator's file. The core only
sees the typed ``Policy`` value.
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models import PRIORITIES

DEFAULTS = Path(__file__).resolve().parent.parent / "config" / "defaults.toml"


@dataclass(frozen=True)
class RoutingRule:
    name: str
    words: tuple[str, ...]
    priority: str | None = None
    queue: str | None = None
    category: str | None = None

    def matches(self, text: str) -> bool:
        return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text) for w in self.words)


@dataclass(frozen=True)
class SlaTarget:
    response_minutes: int | None
    resolution_minutes: int | None
    hours: str = "business"


@dataclass(frozen=True)
class Routing:
    priority: str
    queue: str
    category: str
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    default_priority: str
    default_queue: str
    default_category: str
    queues: tuple[dict[str, str], ...]
    categories: tuple[dict[str, str], ...]
    resolution_codes: tuple[dict[str, str], ...]
    routing: tuple[RoutingRule, ...]
    sla: dict[str, SlaTarget]
    raw: dict[str, Any] = field(default_factory=dict)

    def route(self, subject: str, text: str) -> Routing:
        """Suggest priority, queue and category: first matching rule per field wins."""
        haystack = f"{subject}\n{text}".lower()
        chosen: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for rule in self.routing:
            if not rule.matches(haystack):
                continue
            for name in ("priority", "queue", "category"):
                value = getattr(rule, name)
                if value and name not in chosen:
                    chosen[name] = value
                    reasons[name] = f"rule '{rule.name}'"
        return Routing(
            priority=chosen.get("priority", self.default_priority),
            queue=chosen.get("queue", self.default_queue),
            category=chosen.get("category", self.default_category),
            reasons=reasons,
        )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_policy(path: Path | None = None) -> Policy:
    """Load the defaults, overlaid by ``path``; raise ConfigError naming what is wrong."""
    data = tomllib.loads(DEFAULTS.read_text())
    if path is not None:
        try:
            data = _merge(data, tomllib.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ConfigError(f"SWITCHBOARD_CONFIG_FILE: {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"SWITCHBOARD_CONFIG_FILE: {path} is not valid TOML: {exc}") from None
    where = str(path or DEFAULTS)
    try:
        rules = tuple(
            RoutingRule(
                name=r["name"],
                words=tuple(w.lower() for w in r["words"]),
                priority=r.get("priority"),
                queue=r.get("queue"),
                category=r.get("category"),
            )
            for r in data.get("routing", [])
        )
        sla = {
            p: SlaTarget(
                t.get("response_minutes"), t.get("resolution_minutes"), t.get("hours", "business")
            )
            for p, t in data.get("sla", {}).items()
        }
        policy = Policy(
            default_priority=data["default_priority"],
            default_queue=data["default_queue"],
            default_category=data["default_category"],
            queues=tuple(data.get("queues", [])),
            categories=tuple(data.get("categories", [])),
            resolution_codes=tuple(data.get("resolution_codes", [])),
            routing=rules,
            sla=sla,
            raw=data,
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: missing or wrong entry {exc}") from None
    queue_slugs = {q["slug"] for q in policy.queues}
    category_slugs = {c["slug"] for c in policy.categories}
    for rule in policy.routing:
        if rule.priority and rule.priority not in PRIORITIES:
            raise ConfigError(
                f"{where}: routing rule '{rule.name}' has unknown priority {rule.priority}"
            )
        if rule.queue and rule.queue not in queue_slugs:
            raise ConfigError(
                f"{where}: routing rule '{rule.name}' names unknown queue {rule.queue}"
            )
        if rule.category and rule.category not in category_slugs:
            raise ConfigError(
                f"{where}: routing rule '{rule.name}' names unknown category {rule.category}"
            )
    if policy.default_queue not in queue_slugs:
        raise ConfigError(f"{where}: default_queue {policy.default_queue} is not a listed queue")
    return policy


_cache: dict[tuple[int, str], tuple[Policy, Any]] = {}
_cache_lock = threading.Lock()


def cached(policy: Policy, key: str, build: Any) -> Any:
    """Parse a part of the policy once per loaded policy (SLA, escalation, on-call)."""
    entry = _cache.get((id(policy), key))
    if entry is not None and entry[0] is policy:
        return entry[1]
    with _cache_lock:
        value = build(policy)
        _cache[(id(policy), key)] = (policy, value)
        return value
