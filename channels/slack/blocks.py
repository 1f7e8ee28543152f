"""Block Kit for Switchboard: the ticket card, thread lines, modals and the App Home.

Pure functions from plain values to Slack's JSON. Every button's ``action_id``
starts with ``sb_``; ``CARD_BUTTONS`` lists the card's buttons per ticket status,
so a new button (an escalation's Acknowledge, say) is one row and one handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import DeliveryStatus, TicketStatus
from core.rendering import plural
from core.tickets import lifecycle

SLA_MARK = {
    "green": ":large_green_circle: on time",
    "yellow": ":large_yellow_circle: at risk",
    "red": ":red_circle: breached",
}
NOTE_MARK = ":lock: *Internal note*, not sent to the client"
MAX_TEXT = 2900  # a section's text is limited to 3000 characters


def clip(text: str, limit: int = MAX_TEXT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_lines(text: str, lines: int = 4, limit: int = 600) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][:lines]
    return clip("\n".join(kept), limit)


def quote(text: str) -> str:
    return "\n".join("> " + line for line in clip(text).splitlines()) or "> (empty)"


def slack_date(when: datetime | None) -> str:
    """A date Slack shows in each reader's own time zone."""
    if when is None:
        return "none"
    stamp = int(when.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{when.strftime('%Y-%m-%d %H:%M UTC')}>"


def escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text) or " "},
    }
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 2900) or " "}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        data["style"] = style
    return data


def marker(key: str) -> str:
    """The block id that marks a message as posted for one outbox key."""
    return f"sb:{key}"[:255]


# The card ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardButton:
    label: str
    action_id: str
    shown: Callable[[dict[str, Any]], bool]
    style: str | None = None


def _open(t: dict[str, Any]) -> bool:
    return t["status"] in lifecycle.OPEN_STATES


CARD_BUTTONS: list[CardButton] = [
    CardButton("Acknowledge", "sb_ack", lambda t: t["status"] == TicketStatus.NEW, "primary"),
    CardButton(
        "Assign to me",
        "sb_assign_me",
        lambda t: t["status"] in lifecycle.OPEN_STATES - {TicketStatus.ON_HOLD},
    ),
    CardButton(
        "Assign…",
        "sb_assign",
        lambda t: t["status"] in lifecycle.OPEN_STATES - {TicketStatus.ON_HOLD},
    ),
    CardButton("Hold…", "sb_hold", lambda t: t["status"] in lifecycle.WORKING_STATES),
    CardButton("Resume", "sb_resume", lambda t: t["status"] == TicketStatus.ON_HOLD),
    CardButton(
        "Resolve…",
        "sb_resolve",
        lambda t: t["status"] in lifecycle.OPEN_STATES - {TicketStatus.NEW},
        "primary",
    ),
    CardButton("Close", "sb_close", lambda t: t["status"] == TicketStatus.RESOLVED),
    CardButton(
        "Reopen", "sb_reopen", lambda t: t["status"] in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    ),
    CardButton("Internal note…", "sb_note", lambda t: True),
    CardButton("Priority…", "sb_priority", _open),
    CardButton("Escalate now", "sb_escalate", lambda t: _open(t) and not t["escalated"], "danger"),
    CardButton("Link asset / work order…", "sb_link", lambda t: t["status"] != TicketStatus.CLOSED),
    CardButton("Copy tracking link", "sb_copy_link", lambda t: True),
    CardButton("Same client as…", "sb_contact", lambda t: True),
]


def card(t: dict[str, Any], opening_text: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """The card of one ticket, from ``core.views.ticket_summary`` and its first message."""
    client = t["client"]
    who = escape(client["name"] or client["address"] or "unknown")
    if client["organization"]:
        who += f" ({escape(client['organization'])})"
    sla = t["sla"]
    sla_text = SLA_MARK.get(sla["state"], sla["state"])
    due = sla["resolution_due_at"] if sla["first_response_at"] else sla["response_due_at"]
    due_label = "resolution due" if sla["first_response_at"] else "response due"
    sla_line = (
        f"{sla_text}, {due_label} {slack_date(datetime.fromisoformat(due))}" if due else sla_text
    )
    status = t["status"].replace("_", " ")
    if t["hold"]:
        status += (
            f" ({t['hold']['reason'].replace('_', ' ')}"
            + (f": {escape(t['hold']['parts_ref'])}" if t["hold"].get("parts_ref") else "")
            + (
                f", until {slack_date(datetime.fromisoformat(t['hold']['until']))}"
                if t["hold"].get("until")
                else ""
            )
            + ")"
        )
    if t["escalated"]:
        status += " · :rotating_light: escalated"
    hints = "".join(
        f"\n<{h['link']}|{escape(h['label'])}>"
        if h.get("link")
        else f"\n{escape(h['text'])}"
        + (f" (until {slack_date(datetime.fromisoformat(h['until']))})" if h.get("until") else "")
        for h in client.get("hints") or []
    )
    fields = [
        f"*Client*\n{who}\nreplies go by {client['channel'] or 'no channel'}: "
        f"{escape(client['address'] or '')}{hints}",
        f"*Priority*\n{t['priority']}",
        f"*Status*\n{status}",
        f"*Assignee*\n{escape(t['assignee'] or 'nobody')}",
        f"*Category*\n{escape(t['category'] or '-')} · queue {escape(t['queue'] or '-')}",
        f"*SLA*\n{sla_line}",
    ]
    links = t["links"]
    if links.get("asset") or links.get("work_order") or links.get("site"):
        fields.append(
            "*Linked*\n"
            + ", ".join(f"{name.replace('_', ' ')} {escape(v)}" for name, v in links.items() if v)
        )
    title = f"{t['number']} · {t['subject']}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "block_id": marker(key),
            "text": {"type": "plain_text", "text": clip(title, 150)},
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": clip(f, 1900)} for f in fields[:10]],
        },
        section(quote(first_lines(escape(opening_text)))),
    ]
    machine = machine_text(t)
    if machine:
        blocks.append(section(machine))
    shown = [b for b in CARD_BUTTONS if b.shown(t)]
    for start in range(0, len(shown), 5):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"card_actions_{start // 5}",
                "elements": [
                    button(b.label, b.action_id, t["number"], b.style)
                    for b in shown[start : start + 5]
                ],
            }
        )
    blocks.append(
        context(
            "Reply in this thread to answer the client · start with `note:` for an internal note"
        )
    )
    return f"{title} ({t['priority']}, {status})", blocks


def machine_text(t: dict[str, Any]) -> str:
    """The machine's recent history and the linked work order, from the ticket's context
    (``core.tickets.context``): what an agent should know before touching it."""
    lines = []
    asset = t.get("asset")
    if asset:
        head = f"*Machine* {escape(asset['tag'])}"
        if asset["name"]:
            head += f" · {escape(asset['name'])}"
        if asset["site"]:
            head += f" · site {escape(asset['site'])}"
        head += f" · {plural(asset['tickets_total'], 'ticket')}, {asset['tickets_open']} open"
        if asset["alerts"]:
            head += f" · :rotating_light: {plural(len(asset['alerts']), 'alert')} firing"
        lines.append(head)
        for r in asset["resolutions"][:3]:
            when = slack_date(datetime.fromisoformat(r["at"])) if r["at"] else ""
            lines.append(
                f"• {r['ticket']} {escape(r['code'])} {when}: {escape(clip(r['steps'], 140))}"
            )
        if not asset["resolutions"]:
            lines.append("• no earlier resolutions")
    order = t.get("work_order")
    if order:
        lines.append(
            f"*Work order* {escape(order['number'])} ({order['status']})"
            + (f": {escape(order['title'])}" if order["title"] else "")
        )
    return clip("\n".join(lines))


# Thread lines --------------------------------------------------------------------------


def client_message(
    name: str, channel: str, text: str, attachments: list[tuple[str, str]], key: str
) -> tuple[str, list[dict[str, Any]]]:
    head = f":incoming_envelope: *{escape(name)}* wrote ({channel}):"
    blocks = [section(head + "\n" + quote(escape(text)), marker(key))]
    if attachments:
        blocks.append(
            context(
                "Attachments: "
                + ", ".join(
                    f"<{url}|{escape(fn)}>" if url else escape(fn) for fn, url in attachments
                )
            )
        )
    return f"{name} wrote: {clip(text, 200)}", blocks


def note_line(author: str, text: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    blocks = [section(f"{NOTE_MARK} from *{escape(author)}*:\n{quote(escape(text))}", marker(key))]
    return f"Internal note from {author} (not sent to the client)", blocks


def reply_line(
    author: str,
    channel: str,
    text: str,
    state: str,
    message_id: int,
    key: str,
    undo_seconds: float = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """A public reply's confirmation; ``state`` is the client delivery's status
    (``none`` when there is no delivery: the client has no address)."""
    how = f"by {channel}"
    if state == DeliveryStatus.CANCELLED:
        head = f":leftwards_arrow_with_hook: Reply from *{escape(author)}* was *undone*: not sent to the client"
    elif state in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) and undo_seconds:
        head = f":outbox_tray: Reply from *{escape(author)}* will be sent to client {how} in {int(undo_seconds)} s"
    elif state == "none":
        head = (
            f":warning: Reply from *{escape(author)}* could not be sent: the client has no address"
        )
    elif state in (DeliveryStatus.FAILED, DeliveryStatus.PARKED, DeliveryStatus.BOUNCED):
        head = f":warning: Reply from *{escape(author)}* to the client {how} {state}"
    else:
        head = f":white_check_mark: Reply from *{escape(author)}* sent to client {how}"
    blocks: list[dict[str, Any]] = [section(head + "\n" + quote(escape(text)), marker(key))]
    if state == DeliveryStatus.PENDING and undo_seconds:
        blocks.append(
            {
                "type": "actions",
                "block_id": "reply_actions",
                "elements": [button("Undo", "sb_undo", str(message_id), "danger")],
            }
        )
    return f"Reply from {author}: {state}", blocks


def event_line(text: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    return text, [context(text) | {"block_id": marker(key)}]


# App Home ------------------------------------------------------------------------------


def ticket_line(t: dict[str, Any]) -> str:
    due = (
        t["sla"]["resolution_due_at"]
        if t["sla"]["first_response_at"]
        else t["sla"]["response_due_at"]
    )
    mark = SLA_MARK.get(t["sla"]["state"], "").split(" ", 1)[0]
    line = f"{mark} *{t['number']}* {escape(clip(t['subject'], 80))} · {t['priority']} · {t['status'].replace('_', ' ')}"
    if due:
        line += f" · due {slack_date(datetime.fromisoformat(due))}"
    return line


def home(sections: list[tuple[str, list[str]]]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Switchboard"}}
    ]
    for title, lines in sections:
        blocks.append({"type": "divider"})
        blocks.append(section(f"*{title}*"))
        if not lines:
            blocks.append(context("nothing here"))
        for start in range(0, min(len(lines), 100), 10):
            blocks.append(section("\n".join(lines[start : start + 10])))
    return {"type": "home", "blocks": blocks[:100]}
