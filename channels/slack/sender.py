"""The Slack sender: delivers outbox rows through the Web API, at most once per key.

Registered in ``config.runtime.build_senders`` under ``slack``. It posts and
updates ticket cards and their thread lines, ephemeral messages, the App Home,
and client messages for tickets that came in through Slack.

Never twice for one outbox row: before posting, a ``SlackPost`` row for the key is
written; after posting, its ts. A retry that finds the ts does not post; one that
finds the row without a ts (the earlier attempt may have reached Slack) looks for
the message by its block id marker before posting again. A card is posted by the
one sender that created its ``SlackCard`` row; every later row is a chat.update.
The ids it returns for staff-side messages carry a prefix (``card:``, ``thread:``,
``ephemeral:``, ``home:``), so they can never be mistaken for a client's Slack
conversation (``CHANNEL:TS``), which is where client messages go.
HTTP 429 becomes a ``DeliveryError`` carrying Retry-After; Slack's transient errors
are retried by the deliver job; the rest are permanent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from channels.slack import blocks, home, pings
from channels.slack import outbox as slack_outbox
from channels.slack.models import SlackCard, SlackPost
from core.context import Context
from core.errors import DeliveryError, NotFound
from core.escalation import chain as escalation
from core.models import Agent, Attachment, Contact, Message, OutboxDelivery, Ticket
from core.tickets import context
from core.values import Outbound

log = logging.getLogger(__name__)

TRANSIENT = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "team_added_to_org",
}
IN_FLIGHT_GRACE = timedelta(seconds=30)
CONVERSATION_RE = re.compile(r"^([CDG][A-Z0-9]+):(\d+\.\d+)$")

Render = tuple[str, list[dict[str, Any]]]


class SlackSender:
    channel = slack_outbox.CHANNEL

    def __init__(self, client: WebClient, ctx: Context) -> None:
        self.client = client
        self.ctx = ctx

    def send(self, out: Outbound) -> str | None:
        try:
            return self._send(out)
        except SlackApiError as exc:
            raise translate(exc) from exc
        except OSError as exc:  # connection refused, reset, timed out
            raise DeliveryError(f"Slack unreachable: {exc}", outage=True) from exc

    def _send(self, out: Outbound) -> str | None:
        """By the delivery's kind; any other kind is a message to a client."""
        by_kind: dict[str, Callable[[Outbound], str | None]] = {
            slack_outbox.CARD: self._card,
            slack_outbox.THREAD: self._thread,
            slack_outbox.UPDATE: self._update,
            slack_outbox.EPHEMERAL: self._ephemeral,
            slack_outbox.HOME: self._home,
            escalation.KIND: self._escalation,
        }
        return by_kind.get(out.kind, self._to_client)(out)

    # Cards ---------------------------------------------------------------------------

    def _card(self, out: Outbound) -> str:
        ticket_id = int(out.extras["ticket"])
        key = f"card:{ticket_id}"
        db = self.ctx.db
        poster = False
        try:
            with db.transaction() as session:
                row = session.get(SlackCard, ticket_id, with_for_update=True)
                if row is None:
                    session.add(
                        SlackCard(
                            ticket_id=ticket_id,
                            channel=out.recipient,
                            ts=None,
                            created_at=self.ctx.now(),
                            updated_at=self.ctx.now(),
                        )
                    )
                    poster = True
                channel, ts, created = (
                    (out.recipient, None, self.ctx.now())
                    if row is None
                    else (row.channel, row.ts, row.created_at)
                )
        except IntegrityError:
            raise DeliveryError(
                "the card is being posted by another worker; will update it next", retry_after=1
            ) from None
        text, card_blocks = self._render_card(ticket_id, key)
        if ts:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=card_blocks)
            return f"card:{channel}:{ts}"
        if not poster:
            if self.ctx.now() - created < IN_FLIGHT_GRACE:
                raise DeliveryError(
                    "the card's first post is in flight; will update it next", retry_after=1
                )
            ts = self._find(channel, None, key)  # the poster died: did its post reach Slack?
        if ts is None:
            try:
                ts = self.client.chat_postMessage(
                    channel=channel, text=text, blocks=card_blocks, unfurl_links=False
                )["ts"]
            except SlackApiError:
                # Slack answered: nothing was posted, so the next attempt may post at once.
                with db.transaction() as session:
                    row = session.get(SlackCard, ticket_id, with_for_update=True)
                    if row is not None and row.ts is None:
                        session.delete(row)
                raise
        with db.transaction() as session:
            row = session.get(SlackCard, ticket_id, with_for_update=True)
            assert row is not None
            row.ts, row.updated_at = ts, self.ctx.now()
        return f"card:{channel}:{ts}"

    def _render_card(self, ticket_id: int, key: str) -> Render:
        with self.ctx.db.reading() as session:
            shown = context.assemble(self.ctx, session, ticket_id, full=False)
            return blocks.card(shown, shown["opening"] or "", key)

    def _card_position(self, ticket_id: int) -> tuple[str, str]:
        with self.ctx.db.reading() as session:
            row = session.get(SlackCard, ticket_id)
            if row is None or not row.ts:
                raise DeliveryError(
                    "the ticket's card is not posted yet; thread lines wait for it", retry_after=1
                )
            return row.channel, row.ts

    # Thread lines --------------------------------------------------------------------

    def _thread(self, out: Outbound) -> str:
        channel, thread_ts = self._card_position(int(out.extras["ticket"]))
        text, line_blocks = self._render_line(out.key, out.extras, out.text)
        ts = self._post_once(out.key, channel, thread_ts, text, line_blocks)
        return f"thread:{channel}:{ts}"

    def _update(self, out: Outbound) -> str:
        post_key = str(out.extras["post_key"])
        with self.ctx.db.reading() as session:
            post = session.get(SlackPost, post_key)
            channel, ts = (post.channel, post.ts) if post else (None, None)
        if not channel or not ts:
            raise DeliveryError(f"the message for {post_key} is not posted yet", retry_after=1)
        text, line_blocks = self._render_line(post_key, out.extras, out.text)
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=line_blocks)
        return f"thread:{channel}:{ts}"

    def _render_line(self, key: str, extras: dict[str, Any], text: str) -> Render:
        line = extras.get("line")
        if line == "escalation":
            return self._render_ping(key, None, int(extras["ticket"]))
        if line == "event":
            return blocks.event_line(str(extras.get("text") or text), key)
        with self.ctx.db.reading() as session:
            message = session.get(Message, int(extras["message"]))
            assert message is not None
            agent = session.get(Agent, message.author_agent_id) if message.author_agent_id else None
            if line == "client_message":
                contact = (
                    session.get(Contact, message.author_contact_id)
                    if message.author_contact_id
                    else None
                )
                files = (
                    session.execute(
                        select(Attachment)
                        .where(Attachment.message_id == message.id)
                        .order_by(Attachment.id)
                    )
                    .scalars()
                    .all()
                )
                ticket = session.get(Ticket, message.ticket_id)
                names = [
                    (
                        f"{a.filename} ({a.size} bytes{', ' + a.flagged if a.flagged else ''})",
                        self.ctx.file_link(ticket.tracking_token, a.id, a.filename)
                        if ticket and not (a.flagged or "").startswith("not kept")
                        else "",
                    )
                    for a in files
                ]
                return blocks.client_message(
                    contact.name if contact and contact.name else "The client",
                    message.channel,
                    message.body_text,
                    names,
                    key,
                )
            if line == "note":
                return blocks.note_line(agent.name if agent else "someone", message.body_text, key)
            delivery = session.execute(
                select(OutboxDelivery.status).where(OutboxDelivery.key == f"reply:{message.id}")
            ).scalar_one_or_none()
            return blocks.reply_line(
                agent.name if agent else "someone",
                message.channel,
                message.body_text,
                delivery or "none",
                message.id,
                key,
                float(extras.get("undo_seconds") or 0),
            )

    # Escalation pings -----------------------------------------------------------------

    def _escalation(self, out: Outbound) -> str:
        """A ping: a DM to the agent's Slack user, or a mention in the queue's channel."""
        try:
            text, ping_blocks = self._render_ping(out.key, out.ticket_number, None, out.recipient)
        except NotFound as exc:
            raise DeliveryError(f"escalation ping: {exc}", permanent=True) from exc
        ts = self._post_once(out.key, out.recipient, None, text, ping_blocks)
        return f"ping:{out.recipient}:{ts}"

    def _render_ping(
        self, key: str, number: str | None, ticket_id: int | None, recipient: str | None = None
    ) -> Render:
        with self.ctx.db.reading() as session:
            ticket, _ = pings.load(session, number, ticket_id, key)
            card = session.get(SlackCard, ticket.id)
            card_at = (card.channel, card.ts) if card is not None and card.ts else None
            post = session.get(SlackPost, key)
            where = recipient or (post.channel if post else "")
        link = None
        if card_at:
            try:
                link = str(
                    self.client.chat_getPermalink(channel=card_at[0], message_ts=card_at[1])[
                        "permalink"
                    ]
                )
            except SlackApiError:
                link = None  # the ping matters more than its link
        with self.ctx.db.reading() as session:
            ticket, esc = pings.load(session, number, ticket_id, key)
            return pings.render(
                ticket,
                esc,
                key,
                mention=not where.startswith(pings.PERSON_PREFIXES),
                card_link=link,
            )

    # Ephemeral messages and the App Home ---------------------------------------------------

    def _ephemeral(self, out: Outbound) -> str:
        with self.ctx.db.reading() as session:
            done = session.get(SlackPost, out.key)
            if done is not None and done.ts:
                return f"ephemeral:{done.channel}:{done.ts}"
        args: dict[str, Any] = {
            "channel": out.recipient,
            "user": out.extras["user"],
            "text": out.text,
        }
        if out.extras.get("thread_ts"):
            args["thread_ts"] = out.extras["thread_ts"]
        ts = self.client.chat_postEphemeral(**args)["message_ts"]
        with self.ctx.db.transaction() as session:
            session.merge(
                SlackPost(key=out.key, channel=out.recipient, ts=ts, created_at=self.ctx.now())
            )
        return f"ephemeral:{out.recipient}:{ts}"

    def _home(self, out: Outbound) -> str:
        user = str(out.extras["user"])
        with self.ctx.db.reading() as session:
            view = blocks.home(home.sections(self.ctx, session, user))
        self.client.views_publish(user_id=user, view=view)
        return f"home:{user}"

    # Clients on Slack ----------------------------------------------------------------

    def _to_client(self, out: Outbound) -> str:
        """A message to a client who wrote to us on Slack, in the same conversation."""
        channel, thread_ts = out.recipient, None
        for ref in out.thread.get("references", []):
            match = CONVERSATION_RE.match(str(ref))
            if match:
                channel, thread_ts = match.group(1), match.group(2)
                break
        text = (
            out.text
            if not out.ticket_number or out.ticket_number in out.text
            else f"[{out.ticket_number}] {out.text}"
        )
        ts = self._post_once(
            out.key,
            channel,
            thread_ts,
            text,
            [blocks.section(blocks.escape(text), blocks.marker(out.key))],
        )
        return f"{channel}:{ts}"

    # Posting once --------------------------------------------------------------------

    def _post_once(
        self,
        key: str,
        channel: str,
        thread_ts: str | None,
        text: str,
        message_blocks: list[dict[str, Any]],
    ) -> str:
        uncertain = False
        try:
            with self.ctx.db.transaction() as session:
                post = session.get(SlackPost, key, with_for_update=True)
                if post is not None and post.ts:
                    return post.ts
                if post is None:
                    session.add(
                        SlackPost(
                            key=key, channel=channel, thread_ts=thread_ts, created_at=self.ctx.now()
                        )
                    )
                else:
                    uncertain = True
        except IntegrityError:
            uncertain = True
        ts = self._find(channel, thread_ts, key) if uncertain else None
        if ts is None:
            args: dict[str, Any] = {
                "channel": channel,
                "text": blocks.clip(text, 3000),
                "blocks": message_blocks,
                "unfurl_links": False,
            }
            if thread_ts:
                args["thread_ts"] = thread_ts
            ts = self.client.chat_postMessage(**args)["ts"]
        with self.ctx.db.transaction() as session:
            post = session.get(SlackPost, key, with_for_update=True)
            assert post is not None
            post.ts = ts
        return str(ts)

    def _find(self, channel: str, thread_ts: str | None, key: str) -> str | None:
        """The ts of a message we posted for ``key`` (by its block id marker), if Slack has it."""
        wanted = blocks.marker(key)
        if thread_ts:
            found = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
        else:
            found = self.client.conversations_history(channel=channel, limit=200)
        messages: list[dict[str, Any]] = found.get("messages") or []
        for message in messages:
            if any(b.get("block_id") == wanted for b in message.get("blocks", [])):
                return str(message["ts"])
        return None


def translate(exc: SlackApiError) -> DeliveryError:
    """Slack's answer as a DeliveryError: 429 keeps Retry-After; transient errors retry."""
    response = exc.response
    status = getattr(response, "status_code", 200)
    error = response.get("error", "") if hasattr(response, "get") else ""
    if status == 429:
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        raw = headers.get("retry-after", "1")
        retry_after = float(raw[0] if isinstance(raw, list) else raw)
        return DeliveryError(
            f"Slack rate limit: retry after {retry_after:g} s", retry_after=retry_after, outage=True
        )
    if status >= 500 or error in TRANSIENT:
        return DeliveryError(f"Slack error {status} {error}: will retry", outage=True)
    return DeliveryError(f"Slack refused the call: {error or status}", permanent=True)
