"""The policy's ``[satisfaction]`` section, checked once at start::

[satisfaction]
ask = true                     # ask after every resolution
answer_days = 14               # how long the question's links and buttons work
notify_rating_at_or_below = 2  # a rating this low notifies ...
notify = ["role:lead"]         # ... these agents: "role:NAME" or an agent's email
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.policy import Policy, cached


@dataclass(frozen=True)
class SatisfactionConfig:
    ask: bool = True
    answer_days: int = 14
    notify_at_or_below: int = 2
    notify: tuple[str, ...] = ("role:lead",)

    @property
    def roles(self) -> set[str]:
        return {n[5:] for n in self.notify if n.startswith("role:")}

    @property
    def emails(self) -> set[str]:
        return {n.lower() for n in self.notify if not n.startswith("role:")}


def config(policy: Policy) -> SatisfactionConfig:
    result: SatisfactionConfig = cached(policy, "satisfaction", _build)
    return result


def _build(policy: Policy) -> SatisfactionConfig:
    raw: Any = policy.raw.get("satisfaction", {})
    where = "[satisfaction]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    default = SatisfactionConfig()
    ask = raw.get("ask", default.ask)
    days = raw.get("answer_days", default.answer_days)
    low = raw.get("notify_rating_at_or_below", default.notify_at_or_below)
    notify = raw.get("notify", list(default.notify))
    if not isinstance(ask, bool):
        raise ConfigError(f"{where} ask must be true or false")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"{where} answer_days must be a whole number of days, 1 or more")
    if isinstance(low, bool) or not isinstance(low, int) or not 0 <= low <= 5:
        raise ConfigError(f"{where} notify_rating_at_or_below must be 0 (never) to 5")
    if isinstance(notify, str):
        notify = [notify]
    if not isinstance(notify, list) or not all(isinstance(n, str) and n for n in notify):
        raise ConfigError(f'{where} notify must be a list of "role:NAME" or agent emails')
    return SatisfactionConfig(ask, days, low, tuple(notify))
