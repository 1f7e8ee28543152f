"""What Slack events and interactions do, as plain functions over their JSON payloads.

The bolt app (``channels.slack.app``) calls ``record`` before it answers Slack:
the event is stored (so a retry with the same event id is recognised) and handed
to the workers, whose ``slack_event`` job calls ``process`` (the clock's sweep
re-runs any event whose job was lost).
Every ticket change goes through ``core.actions`` with the Slack user mapped to
an agent; refusals become ephemeral messages naming the rule.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.slack import blocks, pings
from channels.slack import contacts as slack_contacts
from channels.slack import outbox as slack_outbox
from channels.slack.inbox import EventInbox
from channels.slack.intake import external_id_of
from channels.slack.models import SlackCard, SlackEvent
from core import intake, outbox
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.models import Agent, OutboxDelivery, ResolutionCode, Ticket
from core.principals import Principal, agent_principal
from core.sla import ticket as sla
from core.tickets import actions, lifecycle, views

log = logging.getLogger(__name__)

NOTE_RE = re.compile(
    r"^\s*[*_~`>]*\s*(?:note|internal|private)\s*[*_~`]*\s*:[*_~`]*", re.IGNORECASE
)
PENDING, DONE, REFUSED = "pending", "done", "refused"
JOB = "slack_event"  # the worker job that processes one stored event (see channels.slack.install)
STALE_AFTER = timedelta(seconds=30)
PERSON_SUBTYPES = {None, "file_share", "thread_broadcast"}


def note_body(text: str) -> str | None:
    """The note's text when ``text`` starts with note: / internal: / private: (any case), else None."""
    match = NOTE_RE.match(text or "")
    return text[match.end() :].strip() if match else None


def plain(text: str) -> str:
    """Slack's markup as plain text for a client: links, mentions and escapes."""
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text or "")
    text = re.sub(
        r"<(mailto:)?([^|>]+)\|?[^>]*>",
        lambda m: (
            m.group(2)
            if not m.group(2).startswith(("@", "#", "!"))
            else "@" + m.group(2).lstrip("@#!")
        ),
        text,
    )
    return html.unescape(text).replace("\x00", "")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def event_key(envelope: dict[str, Any]) -> str:
    """The stored id of an Events API event: Slack's event id (the same on every retry)."""
    event = envelope.get("event", {})
    return str(
        envelope.get("event_id")
        or f"{event.get('channel')}:{event.get('ts') or event.get('event_ts')}"
    )


def press_key(body: dict[str, Any]) -> str:
    """The stored id of a button press: its trigger id (the same on every retry)."""
    return f"action:{body.get('trigger_id') or body['actions'][0].get('action_ts')}"


def not_agent(user: str) -> ActionRefused:
    return ActionRefused(
        "slack.not_agent",
        f"you (Slack user {user}) are not a Switchboard agent; an admin can add you with `switchboard agents add NAME EMAIL --slack-user {user}`",
        kind="role",
    )


def agent_for(session: Session, slack_user: str | None) -> Agent | None:
    if not slack_user:
        return None
    return session.execute(
        select(Agent).where(Agent.slack_user_id == slack_user, Agent.active.is_(True))
    ).scalar_one_or_none()


def refusal_text(exc: ActionRefused) -> str:
    return f":no_entry: Not done: {exc.message} (rule `{exc.rule}`)"


@dataclass
class SlackWork:
    ctx: Context
    undo_seconds: float = 30.0
    intake_channels: frozenset[str] = frozenset()
    bot_user_id: str | None = None

    def __post_init__(self) -> None:
        self._inbox = EventInbox(self.ctx, self._hand_to_workers)

    # Events ----------------------------------------------------------------------------

    def record(self, event_id: str, kind: str, payload: dict[str, Any]) -> bool:
        """Store an event before answering Slack; False when this event id was seen before."""
        new = self._inbox.store(
            event_id[:120], kind, _without_nul(payload)
        )  # PostgreSQL keeps no NUL
        if not new:
            log.info("Slack event %s seen before: ignored", event_id)
        return new

    async def record_async(self, event_id: str, kind: str, payload: dict[str, Any]) -> bool:
        """``record`` for the HTTP edge, on the event loop."""
        new = await self._inbox.store_async(event_id[:120], kind, _without_nul(payload))
        if not new:
            log.info("Slack event %s seen before: ignored", event_id)
        return new

    def _hand_to_workers(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            try:
                self.ctx.dispatcher.send(JOB, event_id)
            except Exception:  # the row is committed; the clock's sweep will pick it up
                log.exception("could not hand Slack event %s to the workers", event_id)

    def process(self, event_id: str) -> str | None:
        """Do what a stored event asks, once; returns the outcome (None if already done)."""
        with self.ctx.db.reading() as session:
            row = session.get(SlackEvent, event_id)
            if row is None or row.status != PENDING:
                return None
            kind, payload = row.kind, dict(row.payload)
        if kind == "message" and self._is_intake(payload):
            return self._intake(event_id, payload)
        with self.ctx.db.transaction() as session:
            row = session.get(SlackEvent, event_id, with_for_update=True)
            if row is None or row.status != PENDING:
                return None
            if kind == "block_actions":
                outcome = self._button(session, payload)
                row.status = REFUSED if outcome.startswith("refused") else DONE
                row.outcome, row.done_at = outcome[:300], self.ctx.now()
                return outcome
            try:
                with session.begin_nested():
                    outcome = self._handle(session, kind, payload)
                row.status = DONE
            except ActionRefused as exc:
                outcome = f"refused: {exc.rule}"
                row.status = REFUSED
                channel = payload.get("channel")
                if channel and payload.get("user"):
                    slack_outbox.ephemeral(
                        self.ctx,
                        session,
                        channel,
                        payload["user"],
                        refusal_text(exc),
                        thread_ts=payload.get("thread_ts"),
                    )
            row.outcome = outcome[:300]
            row.done_at = self.ctx.now()
            return outcome

    def sweep(self, ctx: Context) -> int:
        """Process events whose listener died before finishing (a clock tick)."""
        cutoff = ctx.now() - STALE_AFTER
        with ctx.db.reading() as session:
            ids = list(
                session.execute(
                    select(SlackEvent.id)
                    .where(SlackEvent.status == PENDING, SlackEvent.received_at < cutoff)
                    .limit(200)
                ).scalars()
            )
        for event_id in ids:
            self.process(event_id)
        return len(ids)

    def _handle(self, session: Session, kind: str, payload: dict[str, Any]) -> str:
        if kind == "app_home_opened":
            slack_outbox.home(self.ctx, session, payload["user"])
            return "home published"
        if kind == "message":
            return self._message(session, payload)
        return f"ignored: {kind}"

    def is_person(self, ev: dict[str, Any]) -> bool:
        return (
            not ev.get("bot_id")
            and ev.get("subtype") in PERSON_SUBTYPES
            and bool(ev.get("user"))
            and ev.get("user") != self.bot_user_id
        )

    def _card_for(self, session: Session, ev: dict[str, Any]) -> SlackCard | None:
        thread_ts = ev.get("thread_ts")
        if not thread_ts or thread_ts == ev.get("ts"):
            return None
        return session.execute(
            select(SlackCard).where(
                SlackCard.channel == ev.get("channel"), SlackCard.ts == thread_ts
            )
        ).scalar_one_or_none()

    def _is_intake(self, ev: dict[str, Any]) -> bool:
        if not self.is_person(ev):
            return False
        if not (ev.get("channel_type") == "im" or ev.get("channel") in self.intake_channels):
            return False
        with self.ctx.db.reading() as session:
            return (
                self._card_for(session, ev) is None and agent_for(session, ev.get("user")) is None
            )

    def _intake(self, event_id: str, ev: dict[str, Any]) -> str:
        """A message from a non-agent in a DM or an intake channel: the same path as email."""
        received = intake.receive(
            self.ctx,
            channel=slack_outbox.CHANNEL,
            external_id=external_id_of(ev),
            raw=json.dumps(ev).encode(),
            transport="events",
        )
        with self.ctx.db.transaction() as session:
            row = session.get(SlackEvent, event_id, with_for_update=True)
            assert row is not None
            row.status, row.done_at = DONE, self.ctx.now()
            row.outcome = f"intake record {received.record_id}" + (
                " (duplicate)" if received.duplicate else ""
            )
            return row.outcome

    def _message(self, session: Session, ev: dict[str, Any]) -> str:
        if not self.is_person(ev):
            return "ignored: not a person's message"
        card = self._card_for(session, ev)
        if card is None:
            return "ignored: not in a card thread"
        agent = agent_for(session, ev.get("user"))
        if agent is None:
            raise ActionRefused(
                "slack.not_agent",
                f"only Switchboard agents answer clients from a card's thread; your message was not sent to the client (Slack user {ev.get('user')} is not an agent)",
                kind="role",
            )
        ticket = actions.get_ticket(session, card.ticket_id, lock=True)
        who = agent_principal(agent)
        text = ev.get("text") or ""
        body = note_body(text)
        if body is not None:
            message = actions.note(self.ctx, session, who, ticket, text=plain(body))
            return f"note {message.id} on {ticket.number}"
        message = actions.reply(
            self.ctx, session, who, ticket, text=plain(text), delay_seconds=self.undo_seconds
        )
        return f"reply {message.id} on {ticket.number}"

    # Buttons -------------------------------------------------------------------------

    def _button(self, session: Session, body: dict[str, Any]) -> str:
        """A card button that acts at once (modal buttons are opened by the app)."""
        action = body["actions"][0]
        action_id, value = action["action_id"], action.get("value", "")
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        thread_ts = (body.get("container") or {}).get("thread_ts") or (
            body.get("container") or {}
        ).get("message_ts")
        handler = BUTTONS.get(action_id)
        if handler is None:
            return f"ignored: {action_id}"
        try:
            with session.begin_nested():
                agent = agent_for(session, user)
                if agent is None:
                    raise not_agent(user)
                outcome = handler(self, session, agent, value, channel, user)
        except (ActionRefused, NotFound) as exc:
            refused = (
                exc
                if isinstance(exc, ActionRefused)
                else ActionRefused("not_found", str(exc), kind="field")
            )
            if channel:
                slack_outbox.ephemeral(
                    self.ctx, session, channel, user, refusal_text(refused), thread_ts=thread_ts
                )
            return f"refused: {refused.rule}"
        if outcome.startswith("say:") and channel:
            slack_outbox.ephemeral(
                self.ctx, session, channel, user, outcome[4:], thread_ts=thread_ts
            )
        return outcome

    def _ticket(self, session: Session, value: str) -> Ticket:
        return actions.get_ticket(session, value, lock=True)

    # Modals ----------------------------------------------------------------------------

    def modal_for(self, name: str, body: dict[str, Any]) -> dict[str, Any] | ActionRefused:
        """The modal a button or shortcut opens, or the refusal to show instead."""
        user = body["user"]["id"]
        with self.ctx.db.reading() as session:
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
                    ticket = actions.get_ticket(session, body["actions"][0]["value"])
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
            return blocks.modal(name, ticket.number, meta, {"codes": codes}, initial)

    def submit(self, view: dict[str, Any], user: str) -> dict[str, str] | None:
        """A modal was submitted: run its action; field errors (or None for success)."""
        name = view["callback_id"].removeprefix("sb_modal_")
        meta = json.loads(view.get("private_metadata") or "{}")
        values = blocks.modal_values(view)
        first_block = next(
            (b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "override"
        )
        try:
            with self.ctx.db.transaction() as session:
                agent = agent_for(session, user)
                if agent is None:
                    raise not_agent(user)
                who = agent_principal(agent)
                ticket = actions.get_ticket(session, int(meta["t"]), lock=True)
                MODALS[name](self, session, who, ticket, values)
        except ActionRefused as exc:
            block = ERROR_BLOCKS.get(exc.rule, first_block)
            return {block if block in values else first_block: f"{exc.message} ({exc.rule})"}
        except NotFound as exc:
            return {first_block: str(exc)}
        return None

    # The /ticket command -------------------------------------------------------------

    def command(self, text: str, user: str) -> str:
        words = (text or "").strip()
        verb, _, rest = words.partition(" ")
        with self.ctx.db.transaction() as session:
            agent = agent_for(session, user)
            if agent is None:
                return refusal_text(not_agent(user))
            who = agent_principal(agent)
            if not words or verb == "help":
                return COMMAND_HELP
            if verb == "mine":
                mine = (
                    session.execute(
                        select(Ticket)
                        .where(
                            Ticket.assignee_id == agent.id, Ticket.status.in_(lifecycle.OPEN_STATES)
                        )
                        .order_by(Ticket.id.desc())
                        .limit(50)
                    )
                    .scalars()
                    .all()
                )
                return _listing(
                    "Your open tickets", [views.ticket_summary(self.ctx, t) for t in mine]
                )
            if verb in ("at-risk", "risk", "atrisk"):
                open_tickets = (
                    session.execute(
                        select(Ticket)
                        .where(Ticket.status.in_(lifecycle.OPEN_STATES))
                        .order_by(Ticket.id.desc())
                        .limit(500)
                    )
                    .scalars()
                    .all()
                )
                risky = [t for t in open_tickets if sla.state(self.ctx, t) in ("yellow", "red")]
                return _listing(
                    "At risk or breached", [views.ticket_summary(self.ctx, t) for t in risky]
                )
            if verb == "open":
                return self._open(session, who, rest)
            if verb in ("link", "unlink", "contact"):
                return slack_contacts.command(self.ctx, session, who, verb, plain(rest))
            try:
                ticket = actions.get_ticket(session, words)
                return _detail(views.ticket_summary(self.ctx, ticket))
            except NotFound:
                found = views.list_tickets(
                    self.ctx, session, query=words, include_closed=True, limit=20
                )
                return _listing(f"Tickets matching '{words}'", found["tickets"])

    def _open(self, session: Session, who: Principal, rest: str) -> str:
        """``/ticket open CHANNEL:ADDRESS Subject | text``."""
        target, _, rest = rest.strip().partition(" ")
        kind, _, address = target.partition(":")
        subject, _, text = rest.partition("|")
        if not address or not subject.strip():
            return "Usage: `/ticket open email:client@example.com Subject | what they reported`"
        try:
            with session.begin_nested():
                ticket = actions.open_ticket(
                    self.ctx,
                    session,
                    who,
                    subject=plain(subject.strip()),
                    text=plain(text.strip() or subject.strip()),
                    requester=(kind, plain(address), ""),
                )
        except ActionRefused as exc:
            return refusal_text(exc)
        return f"Opened {ticket.number} for {address} ({ticket.priority}); its card follows in the queue channel."


# Button handlers: (work, session, agent, value, channel, user) -> outcome ---------------


def _simple(
    fn: Callable[..., Any], **kwargs: Any
) -> Callable[[SlackWork, Session, Agent, str, str | None, str], str]:
    def handler(
        work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
    ) -> str:
        ticket = work._ticket(session, value)
        fn(work.ctx, session, agent_principal(agent), ticket, **kwargs)
        return f"{fn.__name__} {ticket.number}"

    return handler


def _assign_me(
    work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
) -> str:
    ticket = work._ticket(session, value)
    actions.assign(work.ctx, session, agent_principal(agent), ticket, assignee=agent)
    return f"assigned {ticket.number}"


def _copy_link(
    work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
) -> str:
    ticket = actions.get_ticket(session, value)
    return f"say:Tracking link for {ticket.number} (the client's page): {work.ctx.tracking_link(ticket.tracking_token)}"


def _ack_escalation(
    work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
) -> str:
    return pings.acknowledge(work.ctx, session, agent, value)


def _undo(
    work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
) -> str:
    row = session.execute(
        select(OutboxDelivery).where(OutboxDelivery.key == f"reply:{int(value)}")
    ).scalar_one_or_none()
    if row is None:
        raise ActionRefused(
            "undo.nothing", "there is no delivery to the client for this reply", kind="conflict"
        )
    outbox.cancel(work.ctx, session, agent_principal(agent), row.id, reason="undo in Slack")
    if row.ticket_id:
        slack_outbox.update(
            work.ctx,
            session,
            row.ticket_id,
            f"slack:reply-undo:{int(value)}",
            f"slack:reply:{int(value)}",
            "reply",
            message=int(value),
        )
    return f"undid reply {value}"


BUTTONS: dict[str, Callable[[SlackWork, Session, Agent, str, str | None, str], str]] = {
    "sb_ack": _simple(actions.acknowledge),
    "sb_assign_me": _assign_me,
    "sb_resume": _simple(actions.resume),
    "sb_close": _simple(actions.close),
    "sb_reopen": _simple(actions.reopen, reason="reopened from Slack"),
    "sb_escalate": _simple(actions.escalate, reason="escalated by hand from Slack"),
    "sb_copy_link": _copy_link,
    "sb_undo": _undo,
    pings.ACK_ACTION: _ack_escalation,
}
MODAL_BUTTONS = {
    "sb_assign": "assign",
    "sb_hold": "hold",
    "sb_resolve": "resolve",
    "sb_priority": "priority",
    "sb_link": "link",
    "sb_note": "note",
    "sb_contact": "contact",
}


# Modal submissions: (work, session, who, ticket, values) -------------------------------


def _m_hold(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    actions.hold(
        w.ctx,
        s,
        who,
        t,
        reason=v.get("reason") or "",
        parts_ref=v.get("parts_ref"),
        hold_note=v.get("note"),
        override_reason=v.get("override"),
    )


def _m_resolve(
    w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]
) -> None:
    steps = v.get("steps") or ""
    if not steps.strip():
        raise ActionRefused("field.resolution_steps", "resolution steps are required", kind="field")
    actions.resolve(
        w.ctx, s, who, t, code=v.get("code") or "", steps=steps, override_reason=v.get("override")
    )


def _m_priority(
    w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]
) -> None:
    actions.set_priority(
        w.ctx,
        s,
        who,
        t,
        priority=v.get("priority") or "",
        reason=v.get("reason") or "",
        override_reason=v.get("override"),
    )


def _m_link(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    actions.link(
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
    actions.assign(w.ctx, s, who, t, assignee=assignee, override_reason=v.get("override"))


def _m_note(w: SlackWork, s: Session, who: Principal, t: Ticket, v: dict[str, str | None]) -> None:
    actions.note(w.ctx, s, who, t, text=plain(v.get("text") or ""))


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
