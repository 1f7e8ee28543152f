"""What a stored update does before (or instead of) becoming a client's message.

Runs in the record's transaction (``core.channel.EventHandler``). Returns what was
done, or None for a client's message, which the intake rules then decide:

| the update                                  | what happens                                 |
|---------------------------------------------|----------------------------------------------|
| a message in a group (groups not allowed)   | ignored, recorded as such                    |
| ``/start``, ``/help``                       | the bot answers: what happens next, commands |
| ``/status``                                 | the bot lists the chat's tickets             |
| ``/new`` alone                              | the bot says how to use it                   |
| ``/link CODE``                              | an agent links this Telegram account         |
| an edited message                           | the stored message takes the new text        |
| Acknowledge pressed on an escalation ping   | the chain stops (``acknowledging``)          |
| a satisfaction question's answer pressed    | recorded (``core.satisfaction.answering``)   |
| any other update kind                       | ignored, recorded as such                    |
| a message whose file was over 20 MB         | the client is told; the message goes on      |
| anything else                               | None: a client's message                     |

Answers go out as outbox rows of kind ``bot_reply`` to the chat, so they leave
only once this transaction commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.telegram import files, linking, updates
from channels.telegram.parse import NAME, parse
from core import contacts, outbox, satisfaction, staff
from core.context import Context
from core.errors import ActionRefused, NotFound, odd_shapes_refused
from core.escalation import acknowledging
from core.intake.fetch import FETCHED
from core.models import InboundRecord, Message, Ticket
from core.principals import agent_principal
from core.satisfaction import answering
from core.tickets import conversation, lookup
from core.values import Outbound

BOT_REPLY = "bot_reply"
ACK_PREFIX = "ack:"

HELP = (
    "Write what you need help with: text, photos, files, voice messages or your location. "
    "We open a ticket and answer you here; your next messages join the same ticket.\n\n"
    "/new <what it is about> - start another ticket\n"
    "/status - your tickets, their state and tracking links\n"
    "/help - this list"
)
NEW_HINT = (
    "Send /new followed by what the new ticket is about, for example:\n"
    "/new The printer on floor 2 is jammed"
)


class Events:
    """The Telegram channel's event handler.

    Parameters:
      ctx: the process's context.
      allow_groups: take group messages as clients' messages (else ignored).
    """

    def __init__(self, ctx: Context, *, allow_groups: bool = False) -> None:
        self.ctx = ctx
        self.allow_groups = allow_groups

    @odd_shapes_refused("the stored Telegram update")
    def handle(self, session: Session, record: InboundRecord) -> str | None:
        update = updates.load(record.raw)
        query = update.get("callback_query")
        if isinstance(query, dict):
            return self._pressed(session, record, query)
        msg = updates.message(update)
        if msg is None:
            return f"ignored: a {updates.kind(update) or 'empty'} update"
        if not updates.private(msg) and not self.allow_groups:
            return f"ignored: a message in a {updates.chat(msg).get('type', '')} chat"
        if "edited_message" in update:
            return self._edited(session, record, msg)
        chat = updates.chat_id(msg)
        known = session.execute(
            select(Message.id).where(
                Message.channel == NAME, Message.external_id == f"{chat}:{msg['message_id']}"
            )
        ).first()
        if known is not None:  # its edit came first and was recorded as the message
            return "already recorded from its edit"
        command = updates.command(msg)
        if command is not None:
            done = self._command(session, record, msg, *command)
            if done is not None:
                return done
        self._tell_missing_files(session, record, chat)
        return None

    # Commands --------------------------------------------------------------------------

    def _command(
        self, session: Session, record: InboundRecord, msg: dict[str, Any], name: str, rest: str
    ) -> str | None:
        chat = updates.chat_id(msg)
        if name == "/start":
            first = str((msg.get("from") or {}).get("first_name") or "")
            greeting = f"Hello {first}!" if first else "Hello!"
            self.reply(session, record, chat, f"{greeting} This is support.\n\n{HELP}")
            return "answered /start"
        if name == "/help":
            self.reply(session, record, chat, HELP)
            return "answered /help"
        if name == "/status":
            self.reply(session, record, chat, self._status(session, chat))
            return "answered /status"
        if name == "/new" and not rest and not updates.files(msg):
            self.reply(session, record, chat, NEW_HINT)
            return "answered /new without a text"
        if name == "/link":
            user = str((msg.get("from") or {}).get("id", chat))
            answer = linking.redeem(self.ctx, session, rest, user)
            self.reply(session, record, chat, answer)
            return "answered /link"
        return None  # /new with a text, or an unknown command: a client's message

    def _status(self, session: Session, chat: str) -> str:
        identity = contacts.find_identity(session, NAME, chat)
        if identity is None:
            return "You have no tickets yet. Write what you need help with to open one."
        tickets = list(
            session.execute(
                select(Ticket)
                .where(Ticket.contact_id == identity.contact_id)
                .order_by(Ticket.id.desc())
                .limit(10)
            ).scalars()
        )
        if not tickets:
            return "You have no tickets yet. Write what you need help with to open one."
        lines = ["Your tickets, newest first:"]
        for ticket in tickets:
            status = str(ticket.status).replace("_", " ")
            lines.append(
                f"{ticket.number} - {ticket.subject[:80]} - {status}\n"
                f"{self.ctx.tracking_link(ticket.tracking_token)}"
            )
        return "\n\n".join(lines)

    # Edits and files -------------------------------------------------------------------

    def _edited(self, session: Session, record: InboundRecord, msg: dict[str, Any]) -> str | None:
        chat = updates.chat_id(msg)
        stored = session.execute(
            select(Message)
            .where(Message.channel == NAME, Message.external_id == f"{chat}:{msg['message_id']}")
            .order_by(Message.id)
            .limit(1)
        ).scalar_one_or_none()
        if stored is None:
            return None  # the original never reached us: the edit is the message
        text = parse(record.raw, record.meta).text
        changed = conversation.client_edit(
            self.ctx, session, stored, text=text, edited_by=f"client:telegram:{chat}"
        )
        record.ticket_id, record.message_id = stored.ticket_id, stored.id
        return f"edit of message {stored.id}" if changed else "edit without a change of text"

    def _tell_missing_files(self, session: Session, record: InboundRecord, chat: str) -> None:
        notes = (record.meta or {}).get(FETCHED) or {}
        large = [
            n.get("filename") or "a file"
            for n in notes.values()
            if n.get("problem") == files.TOO_LARGE
        ]
        if large:
            self.reply(
                session,
                record,
                chat,
                f"Telegram does not let us receive files over 20 MB, so {', '.join(large)} "
                "did not reach us. Your message is recorded without it: please send a smaller "
                "file, or a link to it.",
                part="files",
            )

    # Buttons ---------------------------------------------------------------------------

    def _pressed(self, session: Session, record: InboundRecord, query: dict[str, Any]) -> str:
        data = str(query.get("data") or "")
        user = str((query.get("from") or {}).get("id", ""))
        chat = updates.chat_id(query.get("message") or {}) or user
        if data.startswith(f"{satisfaction.BUTTON_PREFIX}:"):
            return self._answered(session, record, chat, data)
        if not data.startswith(ACK_PREFIX):
            return f"ignored: a button press ({data[:40]!r})"
        agent = staff.agent_at(session, NAME, user)
        if agent is None:
            self.reply(
                session,
                record,
                chat,
                "Only an agent whose Telegram account is linked can acknowledge.",
            )
            return "ignored: Acknowledge pressed by someone who is not a linked agent"
        number = data[len(ACK_PREFIX) :]
        try:
            ticket = lookup.get_ticket(session, number, lock=True)
            who = agent_principal(agent)
            acknowledging.acknowledge(self.ctx, session, ticket, by=who.label, who=who)
        except (ActionRefused, NotFound) as exc:
            self.reply(session, record, chat, str(exc))
            return f"Acknowledge not taken: {exc}"
        self.reply(
            session,
            record,
            chat,
            f"Acknowledged {ticket.number}: the escalation is stopped, nobody else is pinged.",
        )
        return f"acknowledged the escalation of {ticket.number}"

    def _answered(self, session: Session, record: InboundRecord, chat: str, data: str) -> str:
        """A satisfaction question's button: the answer is recorded (or changed)."""
        try:
            answer = answering.press(self.ctx, session, data, NAME)
        except (ActionRefused, NotFound) as exc:
            self.reply(session, record, chat, str(exc))
            return f"satisfaction answer not taken: {exc}"
        if answer is None:
            return f"ignored: a button press ({data[:40]!r})"
        self.reply(session, record, chat, "Thank you: your answer is recorded.")
        return "satisfaction answer recorded"

    # Answers ---------------------------------------------------------------------------

    def reply(
        self, session: Session, record: InboundRecord, chat: str, text: str, part: str = "reply"
    ) -> None:
        out = Outbound(
            key=f"telegram:{record.id}:{part}",
            channel=NAME,
            recipient=chat,
            kind=BOT_REPLY,
            text=text,
        )
        outbox.queue(self.ctx, session, out, ticket_id=record.ticket_id)
