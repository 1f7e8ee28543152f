"""What Slack events and interactions do, as plain functions over their JSON payloads.

The edge (``channels.slack.edge``) and the bolt app call ``record`` before they
answer Slack: the event is stored as an inbound record through the front door (so
a retry with the same event id is recognised) and handed to the workers, whose
``process_inbound`` job calls ``handle`` (the clock's sweep re-sends any record
whose job was lost; one that fails is parked and retryable like any other).
Every ticket change goes through the core actions (``core.tickets``) with the Slack user mapped to
an agent; refusals become ephemeral messages naming the rule.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.slack import outbox as slack_outbox
from channels.slack import pings
from channels.slack.files import shared
from channels.slack.models import SlackCard
from core import outbox, staff
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.intake import Incoming, Received, fetch
from core.intake.frontdoor import FrontDoor
from core.models import Agent, InboundRecord, OutboxDelivery, Ticket
from core.principals import agent_principal
from core.tickets import conversation, lookup, workflow
from core.values import AttachmentIn

log = logging.getLogger(__name__)

NOTE_RE = re.compile(
    r"^\s*[*_~`>]*\s*(?:note|internal|private)\s*[*_~`]*\s*:[*_~`]*", re.IGNORECASE
)
CHANNEL = "slack"
TRANSPORT = "events"  # inbound records of Slack's Events API and interactivity
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
    return staff.agent_at(session, "slack", slack_user)


def refusal_text(exc: ActionRefused) -> str:
    return f":no_entry: Not done: {exc.message} (rule `{exc.rule}`)"


@dataclass
class SlackWork:
    ctx: Context
    undo_seconds: float = 30.0
    intake_channels: frozenset[str] = frozenset()
    bot_user_id: str | None = None
    door: FrontDoor | None = None

    def __post_init__(self) -> None:
        if self.door is None:
            self.door = FrontDoor(self.ctx)

    # Events: stored through the front door, then handled by the workers ----------------

    def _incoming(self, event_id: str, kind: str, payload: dict[str, Any]) -> Incoming:
        raw = json.dumps(_without_nul(payload)).encode()  # PostgreSQL keeps no NUL
        return Incoming(CHANNEL, event_id[:120], raw, {"kind": kind}, TRANSPORT)

    def record(self, event_id: str, kind: str, payload: dict[str, Any]) -> bool:
        """Store an event before answering Slack; False when this event id was seen before."""
        assert self.door is not None
        return _first_time(event_id, self.door.store(self._incoming(event_id, kind, payload)))

    async def record_async(self, event_id: str, kind: str, payload: dict[str, Any]) -> bool:
        """``record`` for the HTTP edge, on the event loop."""
        assert self.door is not None
        received = await self.door.store_async(self._incoming(event_id, kind, payload))
        return _first_time(event_id, received)

    def handle(self, session: Session, record: InboundRecord) -> str | None:
        """What a stored event asks, in the record's transaction (the channel's
        ``EventHandler``): the outcome, or None when it is a client's message (a DM to
        the bot, or one in an intake channel, from someone who is not an agent), which
        the intake rules then decide like an email."""
        kind = str((record.meta or {}).get("kind", "message"))
        payload = json.loads(record.raw)
        if kind == "message" and self._is_intake(session, payload):
            return None
        if kind == "block_actions":
            return self._button(session, payload)
        try:
            with session.begin_nested():
                return self._handle(session, kind, payload, dict(record.meta or {}))
        except ActionRefused as exc:
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
            return f"refused: {exc.rule}"

    def _handle(
        self, session: Session, kind: str, payload: dict[str, Any], meta: dict[str, Any]
    ) -> str:
        if kind == "app_home_opened":
            slack_outbox.home(self.ctx, session, payload["user"])
            return "home published"
        if kind == "message":
            return self._message(session, payload, meta)
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

    def _is_intake(self, session: Session, ev: dict[str, Any]) -> bool:
        if not self.is_person(ev):
            return False
        if not (ev.get("channel_type") == "im" or ev.get("channel") in self.intake_channels):
            return False
        return self._card_for(session, ev) is None and agent_for(session, ev.get("user")) is None

    def _message(self, session: Session, ev: dict[str, Any], meta: dict[str, Any]) -> str:
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
        ticket = lookup.get_ticket(session, card.ticket_id, lock=True)
        who = agent_principal(agent)
        text = ev.get("text") or ""
        body = note_body(text)
        attachments = _attached(ev, meta, "note" if body is not None else "reply")
        if body is not None:
            message = conversation.note(
                self.ctx, session, who, ticket, text=plain(body), attachments=attachments
            )
            return f"note {message.id} on {ticket.number}"
        message = conversation.reply(
            self.ctx,
            session,
            who,
            ticket,
            text=plain(text),
            attachments=attachments,
            delay_seconds=self.undo_seconds,
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
        return lookup.get_ticket(session, value, lock=True)


def _first_time(event_id: str, received: Received) -> bool:
    """False (and a log line) when Slack sent this event before."""
    if received.duplicate:
        log.info("Slack event %s seen before: ignored", event_id)
    return not received.duplicate


def _attached(ev: dict[str, Any], meta: dict[str, Any], what: str) -> list[AttachmentIn]:
    """The files an agent shared with a thread message, as downloaded before the event
    was decided (``channels.slack.files``); one that could not be had refuses the whole
    message, naming it, so the client never gets a reply missing a file."""
    found = []
    for item in shared(ev):
        name = str(item.get("name") or item.get("title") or item["id"])
        got = fetch.attached(meta, str(item["id"]), name)
        if isinstance(got, str):
            raise ActionRefused(
                "slack.file",
                f"the file '{name}' could not be taken ({got}), so your {what} was not "
                + ("sent to the client" if what == "reply" else "added")
                + ": share it again, or a link to it",
                kind="field",
            )
        found.append(got)
    return found


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
    workflow.assign(work.ctx, session, agent_principal(agent), ticket, assignee=agent)
    return f"assigned {ticket.number}"


def _copy_link(
    work: SlackWork, session: Session, agent: Agent, value: str, channel: str | None, user: str
) -> str:
    ticket = lookup.get_ticket(session, value)
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
            slack_outbox.line_key("reply", int(value)),
            "reply",
            message=int(value),
        )
    return f"undid reply {value}"


BUTTONS: dict[str, Callable[[SlackWork, Session, Agent, str, str | None, str], str]] = {
    "sb_ack": _simple(workflow.acknowledge),
    "sb_assign_me": _assign_me,
    "sb_resume": _simple(workflow.resume),
    "sb_close": _simple(workflow.close),
    "sb_reopen": _simple(workflow.reopen, reason="reopened from Slack"),
    "sb_escalate": _simple(workflow.escalate, reason="escalated by hand from Slack"),
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
