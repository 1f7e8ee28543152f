"""Escalation pings in Slack: a DM to the agent or a mention in the queue's channel,
with an Acknowledge button that stops the chain; and who is on call, for the App Home.

``core.escalation`` writes the pings as outbox rows of kind ``escalation`` on the
``slack`` channel (to an agent's Slack user, or to a queue's channel); the Slack
sender renders them here, from the database, so a ping rendered after an
acknowledgement already says who acknowledged it. Pressing the button calls
``core.escalation.acknowledging.acknowledge`` as the agent the Slack user maps to; then every
ping of that ticket already in Slack is updated in place (chat.update), by the
card observer, which hears of every acknowledgement: one made elsewhere (the API)
updates the pings just the same.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.slack import blocks
from channels.slack import outbox as slack_outbox
from channels.slack.models import SlackPost
from core.context import Context
from core.escalation import acknowledging, oncall
from core.escalation import chain as escalation
from core.models import Agent, Escalation, EscalationStatus, OutboxDelivery, Ticket
from core.principals import agent_principal
from core.tickets import lookup

ACK_ACTION = "sb_esc_ack"
KEY_RE = re.compile(r"^esc:(\d+):")
PERSON_PREFIXES = ("U", "W", "D")  # a user or a DM: no mention needed


def _escalation_of(session: Session, ticket_id: int, key: str) -> Escalation | None:
    match = KEY_RE.match(key)
    if match:
        found = session.get(Escalation, int(match.group(1)))
        if found is not None:
            return found
    return escalation.latest(session, ticket_id)


def render(
    ticket: Ticket, esc: Escalation | None, key: str, *, mention: bool, card_link: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """The ping as Block Kit: what breached, the ticket, a link to its card, Acknowledge."""
    reason = esc.reason if esc else "escalated"
    head = f":rotating_light: *{ticket.number}* ({ticket.priority}) needs someone now: {blocks.escape(reason)}"
    if mention:
        head = "<!here> " + head
    lines = [head, f"*Subject*: {blocks.escape(blocks.clip(ticket.subject, 300))}"]
    if card_link:
        lines.append(f"<{card_link}|Open the ticket's card>")
    message: list[dict[str, Any]] = [blocks.section("\n".join(lines), blocks.marker(key))]
    text = f"{ticket.number} ({ticket.priority}) escalated: {ticket.subject} ({reason})"
    if mention:
        text = "<!here> " + text
    if esc is not None and esc.status == EscalationStatus.ACKNOWLEDGED:
        by = shown_name(esc.acknowledged_by or "someone")
        message.append(
            blocks.context(
                f":white_check_mark: Acknowledged by {blocks.escape(by)} {blocks.slack_date(_aware(esc.acknowledged_at))}; the escalation is stopped"
            )
        )
        text += f" — acknowledged by {by}"
    elif esc is not None and esc.status != EscalationStatus.ACTIVE:
        message.append(blocks.context(f"The escalation is {esc.status}"))
    else:
        message.append(
            {
                "type": "actions",
                "block_id": "esc_actions",
                "elements": [blocks.button("Acknowledge", ACK_ACTION, ticket.number, "primary")],
            }
        )
        message.append(
            blocks.context("Acknowledge to stop the escalation: nobody else is pinged after that")
        )
    return text, message


def load(
    session: Session, ticket_number: str | None, ticket_id: int | None, key: str
) -> tuple[Ticket, Escalation | None]:
    """The ticket a ping is about (by number or id) and its escalation; NotFound if gone."""
    ticket = lookup.get_ticket(session, ticket_id if ticket_id is not None else str(ticket_number))
    return ticket, _escalation_of(session, ticket.id, key)


def shown_name(label: str) -> str:
    """The name in an audit label (``agent:3:Ben`` -> ``Ben``)."""
    return label.split(":", 2)[-1] if label.startswith("agent:") else label


def acknowledge(ctx: Context, session: Session, agent: Agent, number: str) -> str:
    """The Acknowledge button: stop the chain as ``agent`` (the card observer then
    updates every ping, as for an acknowledgement made anywhere else)."""
    ticket = lookup.get_ticket(session, number, lock=True)
    who = agent_principal(agent)
    acknowledging.acknowledge(ctx, session, ticket, by=who.label, who=who)
    return f"acknowledged the escalation of {ticket.number}"


def update_all(ctx: Context, session: Session, ticket_id: int) -> None:
    """Redraw every ping of the ticket already in Slack (after an acknowledgement)."""
    keys = list(
        session.execute(
            select(OutboxDelivery.key).where(
                OutboxDelivery.ticket_id == ticket_id,
                OutboxDelivery.kind == escalation.KIND,
                OutboxDelivery.channel == slack_outbox.CHANNEL,
            )
        ).scalars()
    )
    posted = (
        list(session.execute(select(SlackPost.key).where(SlackPost.key.in_(keys))).scalars())
        if keys
        else []
    )
    for key in posted:
        slack_outbox.update(
            ctx, session, ticket_id, f"slack:esc-ack:{key}"[:200], key, "escalation"
        )


def on_call_section(
    ctx: Context, session: Session, agent: Agent | None
) -> tuple[str, list[str]] | None:
    """The App Home's "On call now": every rotation, its agent and until when."""
    rows = oncall.now_on_call(ctx.policy, ctx.now())
    if not rows:
        return ("On call now", ["No on-call rotation is configured."])
    emails = [r["agent"] for r in rows]
    people = {
        a.email: a for a in session.execute(select(Agent).where(Agent.email.in_(emails))).scalars()
    }
    lines = []
    for row in rows:
        person = people.get(row["agent"])
        who = (
            f"<@{person.address('slack')}>"
            if person and person.address("slack")
            else blocks.escape(person.name if person and person.name else row["agent"])
        )
        if person is not None and agent is not None and person.id == agent.id:
            who += " (you)"
        until = f" until {blocks.slack_date(_parse(str(row['until'])))}" if row["until"] else ""
        why = " (override)" if row["why"] == "override" else ""
        lines.append(f"*{blocks.escape(row['rotation'])}*: {who}{until}{why}")
    return ("On call now", lines)


def _parse(value: str) -> datetime | None:
    return _aware(datetime.fromisoformat(value))


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when
