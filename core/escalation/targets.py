"""Who one escalation step reaches: a queue's Slack channel, the on-call agent,
the assignee, an agent, everyone with a role, or a group of those."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Context
from core.db import transaction_cache
from core.escalation import notify, oncall
from core.escalation.config import Step, config
from core.models import Agent, OutboxDelivery, SupportQueue, Ticket


def notify_target(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    step: Step,
    note: notify.Note,
    esc_id: int,
) -> tuple[list[OutboxDelivery], list[str]]:
    """Write the pings for one step, unflushed; returns (outbox rows, problems)."""
    channels = list(step.channels)
    problems: list[str] = []
    if step.target[0] == "queue":
        queue = session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
        if queue is None or not queue.slack_channel:
            return [], [f"queue {queue.slug if queue else '(none)'} has no Slack channel"]
        if "slack" not in channels:
            return [], [
                'a queue is reached through its Slack channel; add "slack" to the step\'s channels'
            ]
        return [
            notify.to_address(ctx, session, "slack", queue.slack_channel, ticket, note, flush=False)
        ], []
    agents = agents_for(ctx, session, ticket, step, problems)
    rows = []
    for agent in agents:
        # Each agent's ping carries a link of their own: one click acknowledges as them
        # (Slack pings have their button instead).
        link = ctx.ack_link(esc_id, agent.id)
        own = replace(note, text=f"{note.text}Acknowledge to stop the escalation: {link}\n")
        row = notify.to_agent(ctx, session, agent, ticket, own, channels, flush=False)
        if row is None:
            problems.append(f"{agent.email} has no address on {', '.join(channels)}")
        else:
            rows.append(row)
    return rows, problems


def agents_for(
    ctx: Context, session: Session, ticket: Ticket, step: Step, problems: list[str]
) -> list[Agent]:
    """The active agents ``step`` names; what it cannot resolve goes to ``problems``."""
    kind, name = step.target
    emails: list[str] = []
    roles: list[str] = []
    if kind == "oncall":
        rotation = oncall.find(ctx.policy, name or None)
        if rotation is None:
            problems.append(f"no on-call rotation {name or '(first)'} is configured")
            return []
        emails.append(rotation.who(ctx.now())[0])
    elif kind == "assignee":
        if ticket.assignee_id is None:
            problems.append("the ticket has no assignee")
            return []
        agent = session.get(Agent, ticket.assignee_id)
        return [agent] if agent and agent.active else []
    elif kind == "agent":
        emails.append(name.lower())
    elif kind == "role":
        roles.append(name)
    elif kind == "group":
        members = config(ctx.policy).groups.get(name)
        if not members:
            problems.append(f"group '{name}' is not configured")
            return []
        for member in members:
            (
                roles.append(member[5:])
                if member.startswith("role:")
                else emails.append(member.lower())
            )
    else:  # a chain frozen before its policy was checked at start
        problems.append(f"unknown escalation target '{step.notify}'")
        return []
    agents: list[Agent] = []
    # A burst of breaches asks for the same people.
    known = transaction_cache(session, "active_agents")
    if emails:
        key = tuple(sorted(set(emails)))
        if key not in known:
            known[key] = list(
                session.execute(
                    select(Agent).where(Agent.email.in_(emails), Agent.active.is_(True))
                ).scalars()
            )
        found = list(known[key])
        missing = set(emails) - {a.email for a in found}
        problems.extend(f"no active agent {m}" for m in sorted(missing))
        agents.extend(found)
    if roles:
        if "all" not in known:
            known["all"] = list(
                session.execute(
                    select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
                ).scalars()
            )
        for agent in known["all"]:
            if set(agent.roles) & set(roles) and agent not in agents:
                agents.append(agent)
        if not agents:
            problems.append(f"no active agent with role {', '.join(roles)}")
    return agents


def on_call_now(ctx: Context, session: Session, rotation: str | None = None) -> Agent | None:
    """The active agent on call now in ``rotation`` (None: the first rotation)."""
    found = oncall.find(ctx.policy, rotation)
    if found is None:
        return None
    email = found.who(ctx.now())[0]
    return session.execute(
        select(Agent).where(Agent.email == email, Agent.active.is_(True))
    ).scalar_one_or_none()


def reach(
    ctx: Context, session: Session, ticket: Ticket, agents: list[Agent], note: notify.Note
) -> tuple[list[int], str]:
    """Tell ``agents`` (each on their own channels, preferences and quiet hours);
    when none of them can be reached, the ticket's queue's Slack channel; when it has
    none, whoever is on call. Returns the outbox row ids and who was reached
    (``agents``, ``queue``, ``oncall`` or ``nobody``)."""
    rows = [
        r.id for a in agents if a.active if (r := notify.to_agent(ctx, session, a, ticket, note))
    ]
    if rows:
        return rows, "agents"
    queue = session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
    if queue is not None and queue.slack_channel:
        posted = notify.to_address(ctx, session, "slack", queue.slack_channel, ticket, note)
        return [posted.id], "queue"
    agent = on_call_now(ctx, session)
    if agent is not None and agent not in agents:
        row = notify.to_agent(ctx, session, agent, ticket, note)
        if row is not None:
            return [row.id], "oncall"
    return [], "nobody"
