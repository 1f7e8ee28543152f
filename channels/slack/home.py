"""The App Home: my open tickets, breached and at-risk ones, then the registered sections
(who is on call now comes from ``pings.on_call_section``; more plug into ``SECTIONS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.slack import blocks, pings
from core import staff
from core.context import Context
from core.models import Agent
from core.sla import ticket as sla
from core.tickets import lists, views

HomeSection = Callable[[Context, Any, Agent | None], tuple[str, list[str]] | None]
SECTIONS: list[HomeSection] = [pings.on_call_section]  # more App Home sections register here


def sections(ctx: Context, session: Any, slack_user: str) -> list[tuple[str, list[str]]]:
    """The App Home: my open tickets, at-risk and breached ones, then registered sections."""
    agent = staff.agent_at(session, "slack", slack_user, active=False)
    mine = lists.open_for_agent(session, agent.id) if agent is not None else []
    attention = lists.needing_attention(session, ctx.now())
    states = {t.id: sla.state(ctx, t) for t in attention}
    sections: list[tuple[str, list[str]]] = []
    if agent is None:
        sections.append(
            (
                "You are not a Switchboard agent",
                [
                    "Ask an admin to run `switchboard agents add NAME EMAIL --slack-user YOUR_SLACK_ID`."
                ],
            )
        )
    else:
        sections.append(
            (
                f"My open tickets ({len(mine)})",
                [blocks.ticket_line(views.ticket_summary(ctx, t)) for t in mine],
            )
        )
    for title, state in (("Breached", "red"), ("At risk", "yellow")):
        chosen = [t for t in attention if states[t.id] == state]
        sections.append(
            (
                f"{title} ({len(chosen)})",
                [blocks.ticket_line(views.ticket_summary(ctx, t)) for t in chosen],
            )
        )
    for extra in SECTIONS:
        found = extra(ctx, session, agent)
        if found:
            sections.append(found)
    return sections
