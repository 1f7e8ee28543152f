"""Modals: what a modal button or the note shortcut opens, and what a submission does.

Submissions act before Slack gets its answer, so a refusal shows under the field
it concerns (``ERROR_BLOCKS``) instead of as a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.slack import contacts as slack_contacts
from channels.slack import forms
from channels.slack.models import SlackCard
from channels.slack.work import SlackWork, agent_for, not_agent, plain
from core.errors import ActionRefused, NotFound
from core.models import ResolutionCode, Ticket
from core.principals import Principal, agent_principal
from core.tickets import conversation, fields, lookup, workflow


def modal_for(work: SlackWork, name: str, body: dict[str, Any]) -> dict[str, Any] | ActionRefused:
    """The modal a button or shortcut opens, or the refusal to show instead."""
    user = body["user"]["id"]
    with work.ctx.db.reading() as session:
        if agent_for(session, user) is None:
            return not_agent(user)
        if body.get("type") == "message_action":
            card = session.execute(
                select(SlackCard).where(
                    SlackCard.channel == body["channel"]["id"],
                    SlackCard.ts == (body["message"].get("thread_ts") or body["message"]["ts"]),
                )
            ).scalar_one_or_none()
            if card is None:
                return ActionRefused(
                    "slack.no_ticket",
                    "this message is not on a ticket's card or thread",
                    kind="field",
                )
            ticket = session.get(Ticket, card.ticket_id)
            initial = (
                plain(body["message"].get("text", ""))
                if body["message"].get("user") == user
                else ""
            )
        else:
            try:
                ticket = lookup.get_ticket(session, body["actions"][0]["value"])
            except NotFound as exc:
                return ActionRefused("not_found", str(exc), kind="field")
            initial = ""
        assert ticket is not None
        codes = [
            (c.code, f"{c.code}: {c.description}" if c.description else c.code)
            for c in session.execute(
                select(ResolutionCode)
                .where(ResolutionCode.active.is_(True))
                .order_by(ResolutionCode.code)
            ).scalars()
        ]
        meta = json.dumps({"t": ticket.id, "c": (body.get("channel") or {}).get("id")})
        return forms.modal(name, ticket.number, meta, {"codes": codes}, initial)


def submit(work: SlackWork, view: dict[str, Any], user: str) -> dict[str, str] | None:
    """A modal was submitted: run its action; field errors (or None for success)."""
    name = view["callback_id"].removeprefix("sb_modal_")
    meta = json.loads(view.get("private_metadata") or "{}")
    values = forms.modal_values(view)
    first_block = next(
        (b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "override"
    )
    try:
        with work.ctx.db.transaction() as session:
            agent = agent_for(session, user)
            if agent is None:
                raise not_agent(user)
            who = agent_principal(agent)
            ticket = lookup.get_ticket(session, int(meta["t"]), lock=True)
            MODALS[name](work, session, who, ticket, values)
    except ActionRefused as exc:
        block = ERROR_BLOCKS.get(exc.rule, first_block)
        return {block if block in values else first_block: f"{exc.message} ({exc.rule})"}
    except NotFound as exc:
        return {first_block: str(exc)}
    return None


# Modal submissions: (work, session, who, ticket, values) -------------------------------


def _m_hold(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    workflow.hold(
        w.ctx,
        s,
        who,
        t,
        reason=v.get("reason") or "",
        parts_ref=v.get("parts_ref"),
        hold_note=v.get("note"),
        until=datetime.fromtimestamp(int(until), UTC) if (until := v.get("until")) else None,
        override_reason=v.get("override"),
    )


def _m_resolve(
    w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]
) -> None:
    steps = v.get("steps") or ""
    if not steps.strip():
        raise ActionRefused("field.resolution_steps", "resolution steps are required", kind="field")
    workflow.resolve(
        w.ctx, s, who, t, code=v.get("code") or "", steps=steps, override_reason=v.get("override")
    )


def _m_priority(
    w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]
) -> None:
    fields.set_priority(
        w.ctx,
        s,
        who,
        t,
        priority=v.get("priority") or "",
        reason=v.get("reason") or "",
        override_reason=v.get("override"),
    )


def _m_link(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    fields.link(
        w.ctx, s, who, t, asset=v.get("asset"), work_order=v.get("work_order"), site=v.get("site")
    )


def _m_assign(
    w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]
) -> None:
    assignee = agent_for(s, v.get("assignee"))
    if assignee is None:
        raise ActionRefused(
            "field.assignee", "that Slack user is not a Switchboard agent", kind="field"
        )
    workflow.assign(w.ctx, s, who, t, assignee=assignee, override_reason=v.get("override"))


def _m_note(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    conversation.note(w.ctx, s, who, t, text=plain(v.get("text") or ""))


MODALS: dict[
    str, Callable[[SlackWork, Session, Principal, Ticket, dict[str, str | None]], None]
] = {
    "hold": _m_hold,
    "resolve": _m_resolve,
    "priority": _m_priority,
    "link": _m_link,
    "assign": _m_assign,
    "note": _m_note,
    "contact": lambda w, s, who, t, v: slack_contacts.submit_same_client(w.ctx, s, who, t, v),
}
ERROR_BLOCKS = {
    "field.parts_ref": "parts_ref",
    "field.hold_note": "note",
    "hold.reason": "reason",
    "hold.until": "until",
    "resolve.code": "code",
    "field.resolution_code": "code",
    "field.resolution_steps": "steps",
    "priority.value": "priority",
    "field.priority": "priority",
    "field.reason": "reason",
    "override.reason": "override",
    "priority.rule_p1": "override",
    "field.assignee": "assignee",
    "assign.inactive": "assignee",
    "field.text": "text",
    "field.link": "asset",
    "field.other": "other",
    "contacts.same": "other",
    "contacts.merged": "other",
}
