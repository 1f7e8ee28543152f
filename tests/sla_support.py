"""Shared set-up for the SLA and escalation tests: a policy file, a clock we move."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from core.models import Agent, Organization
from core.principals import Principal, system
from core.sla.calendar import from_config
from core.tickets import conversation, opening
from tests.harness import (  # noqa: F401 (tests import wait_until from here)
    Harness,
    make_settings,
    policy_file,
    wait_until,
)


def chain_toml(*steps: tuple[int, str, str], repeat: bool = True, every: int | None = 10) -> str:
    """The TOML of the default escalation chain; each step is (minutes to wait, whom to
    notify, channel); ``every``: minutes between rounds (None: the setting's default)."""
    lines = ["[escalation.chains.default]", f"repeat = {str(repeat).lower()}"]
    if every is not None:
        lines.append(f"repeat_every_minutes = {every}")
    lines.append("steps = [")
    lines += [
        f'  {{ wait_minutes = {wait}, notify = "{whom}", channels = ["{channel}"] }},'
        for wait, whom, channel in steps
    ]
    return "\n".join([*lines, "]", ""])


def rotation_toml(*agents: str, timezone: str = "America/New_York", more: str = "") -> str:
    """The TOML of one on-call rotation, "primary": ``agents`` take a week each in turn,
    handing over on Mondays at 09:00 from 2 November 2026; ``more``: lines it adds."""
    names = ", ".join(f'"{agent}"' for agent in agents)
    return f"""
[[oncall_rotations]]
name = "primary"
handoff = "weekly"
handoff_day = "mon"
handoff_time = "09:00"
timezone = "{timezone}"
start = "2026-11-02"
agents = [{names}]
{more}"""


POLICY = (
    """
[[sla_rules]]
name = "premium contract"
tier = "premium"
priority = ["P2", "P3"]
response_minutes = 30
hours = "24x7"

"""
    + chain_toml((0, "oncall", "slack"), (5, "group:admins", "email"))
    + """
[escalation.groups]
admins = ["role:admin"]
"""
    + rotation_toml(
        "ana@support.example",
        "ben@support.example",
        more='overrides = [{ agent = "cara@support.example", from = "2026-12-24T00:00", '
        'to = "2026-12-27T00:00" }]\n',
    )
)

# Weekdays 09:00-17:00 in New York, US holidays off.
BUSINESS = from_config(
    "business",
    {
        "timezone": "America/New_York",
        "holidays_country": "US",
        "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    },
)

# Monday 23 November 2026, 09:00 in New York
MONDAY_9 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


class FakeNow:
    """A clock the test moves by hand; the whole system reads it through ctx.now."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kwargs: float) -> datetime:
        self.t += timedelta(**kwargs)
        return self.t

    def set(self, value: datetime) -> datetime:
        self.t = value
        return value


def sla_settings(
    tmp_path: Path, database_url: str, broker_url: str, policy: str = POLICY
) -> Settings:
    return make_settings(
        tmp_path, database_url, broker_url, config_file=policy_file(tmp_path, policy)
    )


@pytest.fixture(name="settings")
def policy_settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    """The ``settings`` fixture with ``POLICY`` (import it into a test module to use it)."""
    return sla_settings(tmp_path, database_url, broker_url)


def open_ticket(
    h: Harness,
    priority: str = "P2",
    *,
    subject: str = "Label printer jams",
    address: str = "plant-7",
    tier: str | None = None,
) -> int:
    with h.ctx.db.transaction() as s:
        ticket = opening.open_ticket(
            h.ctx,
            s,
            system("test"),
            subject=subject,
            text="It jams on every third label.",
            requester=("fake", address, "Dana"),
            priority=priority,
        )
        if tier:
            org = Organization(name=f"Org {uuid.uuid4().hex[:6]}", tier=tier)
            s.add(org)
            s.flush()
            ticket.organization_id = org.id
            ticket.contact.organization_id = org.id
            conversation.note(
                h.ctx,
                s,
                Principal("agent", frozenset({"agent"}), "setup"),
                ticket,
                text="contract tier set",
            )
        return ticket.id


def act(h: Harness, ticket_id: int, fn: Callable[..., Any], who: Principal, **kwargs: Any) -> None:
    h.act(ticket_id, fn, who, **kwargs)


def staff(
    h: Harness,
    name: str,
    roles: tuple[str, ...] = ("agent",),
    pager: str | None = None,
    **prefs: Any,
) -> tuple[Principal, str]:
    """An agent reachable on the fake channel at ``pager`` (through their preferences),
    with their API token."""
    who, token = h.agent(name, roles)
    with h.ctx.db.transaction() as s:
        agent = s.get(Agent, who.agent_id)
        assert agent is not None
        agent.preferences = {
            "channels": ["fake"],
            "addresses": {"fake": pager or f"{name.lower()}-pager"},
            **prefs,
        }
    return who, token
