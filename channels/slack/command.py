"""``/ticket``: look-ups answer in the acknowledgement; ``open`` opens a ticket for a client."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from channels.slack import blocks
from channels.slack import contacts as slack_contacts
from channels.slack.work import SlackWork, agent_for, not_agent, plain, refusal_text
from core.errors import ActionRefused, NotFound
from core.principals import Principal, agent_principal
from core.tickets import lists, lookup, opening, views


def run(work: SlackWork, text: str, user: str) -> str:
    words = (text or "").strip()
    verb, _, rest = words.partition(" ")
    with work.ctx.db.transaction() as session:
        agent = agent_for(session, user)
        if agent is None:
            return refusal_text(not_agent(user))
        who = agent_principal(agent)
        if not words or verb == "help":
            return COMMAND_HELP
        if verb == "mine":
            mine = lists.open_for_agent(session, agent.id)
            return _listing("Your open tickets", [views.ticket_summary(work.ctx, t) for t in mine])
        if verb in ("at-risk", "risk", "atrisk"):
            risky = lists.needing_attention(session, work.ctx.now())
            return _listing(
                "At risk or breached", [views.ticket_summary(work.ctx, t) for t in risky]
            )
        if verb == "open":
            return _open(work, session, who, rest)
        if verb in ("link", "unlink", "contact"):
            return slack_contacts.command(work.ctx, session, who, verb, plain(rest))
        try:
            ticket = lookup.get_ticket(session, words)
            return _detail(views.ticket_summary(work.ctx, ticket))
        except NotFound:
            found = views.list_tickets(
                work.ctx, session, query=words, include_closed=True, limit=20
            )
            return _listing(f"Tickets matching '{words}'", found["tickets"])


def _open(work: SlackWork, session: Session, who: Principal, rest: str) -> str:
    """``/ticket open CHANNEL:ADDRESS Subject | text``."""
    target, _, rest = rest.strip().partition(" ")
    kind, _, address = target.partition(":")
    subject, _, text = rest.partition("|")
    if not address or not subject.strip():
        return "Usage: `/ticket open email:client@example.com Subject | what they reported`"
    try:
        with session.begin_nested():
            ticket = opening.open_ticket(
                work.ctx,
                session,
                who,
                subject=plain(subject.strip()),
                text=plain(text.strip() or subject.strip()),
                requester=(kind, plain(address), ""),
            )
    except ActionRefused as exc:
        return refusal_text(exc)
    return f"Opened {ticket.number} for {address} ({ticket.priority}); its card follows in the queue channel."


COMMAND_HELP = "\n".join(
    [
        "*/ticket* — work the queue from Slack:",
        "• `/ticket T-000123` — one ticket",
        "• `/ticket NAME-OR-ADDRESS` — a client's tickets",
        "• `/ticket mine` — your open tickets",
        "• `/ticket at-risk` — tickets at risk or breached",
        "• `/ticket open email:client@example.com Subject | what they reported` — open one on a client's behalf",
        *slack_contacts.HELP,
    ]
)


def _listing(title: str, tickets: list[dict[str, Any]]) -> str:
    if not tickets:
        return f"*{title}*: none"
    return f"*{title}* ({len(tickets)}):\n" + "\n".join(blocks.ticket_line(t) for t in tickets[:30])


def _detail(t: dict[str, Any]) -> str:
    client = t["client"]
    lines = [
        blocks.ticket_line(t),
        f"Client: {client['name'] or '-'} ({client['channel']}: {client['address']})",
        f"Assignee: {t['assignee'] or 'nobody'} · category {t['category']} · queue {t['queue']}",
        f"Tracking: {t['tracking_link']}",
    ]
    return "\n".join(lines)
