"""Policies from configuration: routing rules, reference data and SLA targets.

Read from ``config/defaults.toml``, overlaid by the operator's file. The core only
sees the typed ``Policy`` value.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models import PRIORITIES
from core.values import Inbound

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
class IntakeRule:
    """An operator's rule for inbound mail: park it, or open it routed (``[[intake_rules]]``).

    Every condition it names must hold: ``sender`` and ``list_id`` are shell-style
    patterns (``*@news.example``), ``subject`` a regular expression, ``bulk = true``
    only mail nothing automatic may answer (bulk or list mail), ``channel`` one channel.
    """

    name: str
    action: str  # "park" or "open"
    sender: str | None = None
    list_id: str | None = None
    subject: str | None = None
    bulk: bool | None = None
    channel: str | None = None
    priority: str | None = None
    queue: str | None = None
    category: str | None = None

    def matches(self, inbound: Inbound) -> bool:
        if self.channel and inbound.channel != self.channel:
            return False
        if self.sender and not fnmatch.fnmatch(inbound.sender.lower(), self.sender.lower()):
            return False
        if self.list_id:
            bracketed = re.search(r"<([^>]+)>", inbound.list_id)
            names = {inbound.list_id.strip().lower()} | (
                {bracketed.group(1).lower()} if bracketed else set()
            )
            if not any(fnmatch.fnmatch(n, self.list_id.lower()) for n in names if n):
                return False
        if self.subject and not re.search(self.subject, inbound.subject or "", re.IGNORECASE):
            return False
        return self.bulk is None or bool(inbound.no_auto_reply) == self.bulk


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
    intake_rules: tuple[IntakeRule, ...] = ()
    reply_by_subject_days: int = 14

    def intake_rule_for(self, inbound: Inbound) -> IntakeRule | None:
        """The first operator intake rule that matches, if any."""
        return next((r for r in self.intake_rules if r.matches(inbound)), None)

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


def _check_targets(
    what: str, rule: RoutingRule | IntakeRule, queues: set[str], categories: set[str]
) -> None:
    """Refuse a rule (``what`` names it) whose priority, queue or category is unknown."""
    if rule.priority and rule.priority not in PRIORITIES:
        raise ConfigError(f"{what} has unknown priority {rule.priority}")
    if rule.queue and rule.queue not in queues:
        raise ConfigError(f"{what} names unknown queue {rule.queue}")
    if rule.category and rule.category not in categories:
        raise ConfigError(f"{what} names unknown category {rule.category}")


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
        intake_rules = tuple(
            IntakeRule(
                name=r["name"],
                action=r.get("action", "open"),
                sender=r.get("sender"),
                list_id=r.get("list_id"),
                subject=r.get("subject"),
                bulk=r.get("bulk"),
                channel=r.get("channel"),
                priority=r.get("priority"),
                queue=r.get("queue"),
                category=r.get("category"),
            )
            for r in data.get("intake_rules", [])
        )
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
            intake_rules=intake_rules,
            reply_by_subject_days=int(data.get("reply_by_subject_days", 14)),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: missing or wrong entry {exc}") from None
    queue_slugs = {q["slug"] for q in policy.queues}
    category_slugs = {c["slug"] for c in policy.categories}
    for rule in policy.routing:
        _check_targets(f"{where}: routing rule '{rule.name}'", rule, queue_slugs, category_slugs)
    for intake_rule in policy.intake_rules:
        if intake_rule.action not in ("park", "open"):
            raise ConfigError(
                f"{where}: intake rule '{intake_rule.name}' action must be park or open"
            )
        _check_targets(
            f"{where}: intake rule '{intake_rule.name}'", intake_rule, queue_slugs, category_slugs
        )
        if intake_rule.subject:
            try:
                re.compile(intake_rule.subject)
            except re.error as exc:
                raise ConfigError(
                    f"{where}: intake rule '{intake_rule.name}' subject is not a valid pattern: {exc}"
                ) from None
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
