"""Notifications to staff (warnings, escalation pings) as outbox rows, honouring
each agent's preferences.

``Agent.preferences`` (JSON)::

    {"channels": ["slack", "email"],              # how they like to be reached, in order
     "addresses": {"fake": "ana-pager"},          # extra addresses per channel
     "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}}

Urgent notifications (P1 tickets, breaches and escalation steps) ignore quiet
hours; the others wait for the end of them (the outbox row's ``not_before``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from core import outbox
from core.context import Context
from core.models import Agent, OutboxDelivery, Ticket
from core.values import Outbound

STAFF_CHANNELS = ("slack", "telegram", "email", "fake")


@dataclass(frozen=True)
class Note:
    """What to tell staff: a kind (``sla_warning``, ``escalation``), subject and text."""

    kind: str
    subject: str
    text: str
    urgent: bool
    key: str


def addresses(agent: Agent) -> dict[str, str]:
    """Every channel this agent can be reached on, with the address."""
    found: dict[str, str] = {"email": agent.email}
    found.update((i.channel, i.address) for i in agent.identities)
    extra = (agent.preferences or {}).get("addresses") or {}
    if isinstance(extra, dict):
        found.update({str(k): str(v) for k, v in extra.items() if v})
    return found


def channel_for(agent: Agent, wanted: tuple[str, ...] | list[str]) -> tuple[str, str] | None:
    """The first of ``wanted`` the agent accepts and has an address for; when none,
    the first of the agent's own preferred channels they have an address for."""
    known = addresses(agent)
    raw = (agent.preferences or {}).get("channels") or []
    preferred = [str(c) for c in raw] if isinstance(raw, list) else []
    order = [c for c in wanted if c in preferred] if preferred else list(wanted)
    for channel in order + preferred:
        if channel in known:
            return channel, known[channel]
    return None


def quiet_until(agent: Agent, now: datetime) -> datetime | None:
    """The end of the agent's quiet hours if ``now`` falls inside them, else None."""
    quiet = (agent.preferences or {}).get("quiet_hours")
    if not isinstance(quiet, dict):
        return None
    try:
        tz = ZoneInfo(str(quiet.get("timezone", "UTC")))
        start = time.fromisoformat(str(quiet["start"]))
        end = time.fromisoformat(str(quiet["end"]))
    except (KeyError, ValueError, ZoneInfoNotFoundError):
        return None
    local = now.astimezone(tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


def to_agent(
    ctx: Context,
    session: Session,
    agent: Agent,
    ticket: Ticket | None,
    note: Note,
    channels: tuple[str, ...] | list[str] = STAFF_CHANNELS,
    *,
    flush: bool = True,
) -> OutboxDelivery | None:
    """Queue ``note`` for one agent; None when they have no usable address.
    (``flush=False``: the row gets its id at the session's next flush.)"""
    found = channel_for(agent, channels)
    if found is None:
        return None
    channel, address = found
    not_before = None if note.urgent else quiet_until(agent, ctx.now())
    return to_address(
        ctx,
        session,
        channel,
        address,
        ticket,
        note,
        not_before=not_before,
        extras={"agent_id": agent.id},
        flush=flush,
    )


def to_address(
    ctx: Context,
    session: Session,
    channel: str,
    address: str,
    ticket: Ticket | None,
    note: Note,
    *,
    not_before: datetime | None = None,
    extras: dict[str, Any] | None = None,
    flush: bool = True,
) -> OutboxDelivery:
    """Queue ``note`` to a channel address (a queue's Slack channel; ``to_agent``: an
    agent's address, held until ``not_before``)."""
    out = Outbound(
        key=f"{note.key}:{channel}:{address}"[:200],
        channel=channel,
        recipient=address,
        kind=note.kind,
        subject=note.subject,
        text=note.text,
        ticket_number=ticket.number if ticket else None,
        automatic=True,
        extras=extras or {},
    )
    return outbox.queue(
        ctx,
        session,
        out,
        ticket_id=ticket.id if ticket else None,
        not_before=not_before,
        flush=flush,
    )
