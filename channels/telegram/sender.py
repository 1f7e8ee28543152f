"""The Telegram sender: outbox rows to chats, through the Bot API.

- Text goes as plain text (no parse mode, so nothing in it is read as markup),
  split at 4,096 characters on paragraph boundaries (then lines, then words).
- An agent's files on a reply are uploaded (sendPhoto for pictures up to 10 MB,
  sendDocument otherwise), never sent as links Telegram would have to fetch.
- A message's ``extras["buttons"]`` (a satisfaction question's answers) become inline
  buttons under its text, their ids the callback data.
- An escalation ping carries an Acknowledge button (callback data ``ack:NUMBER``);
  once acknowledged anywhere, the ping is edited to say by whom (``pings``).
- Every part of a delivery is a ``TelegramSent`` row, written before it is sent and
  removed only when Telegram surely refused it: a retry skips the parts already
  sent (Telegram has no idempotency key), and a part whose send ended unclearly (a
  timeout) is not sent twice. The message ids go on the outbox row (external id).
- Rates: at most ``chat_rate`` messages a second to one chat and ``global_rate`` in
  all; a wait longer than ``MAX_WAIT`` seconds becomes a retry later.

| Telegram answers                       | the delivery                                   |
|----------------------------------------|------------------------------------------------|
| 429 with ``retry_after``               | retried after that many seconds                |
| 403 (bot blocked by the user, ...)     | failed for good, Telegram's words on the row   |
| 400 chat not found                     | failed for good                                |
| network error, 5xx                     | retried with backoff                           |
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from channels.telegram.api import BotApi
from channels.telegram.events import ACK_PREFIX
from channels.telegram.models import TelegramSent
from channels.telegram.pings import ACKNOWLEDGED
from core.context import Context
from core.errors import DeliveryError
from core.escalation import chain as escalation
from core.tickets import files
from core.values import Outbound

log = logging.getLogger(__name__)

NAME = "telegram"
LIMIT = 4096
PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_WAIT = 2.0


def split(text: str, limit: int = LIMIT) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at the last paragraph
    break that fits (else a line break, else a space, else anywhere)."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts or [""]


class Pace:
    """Per-chat and global send rates: ``wait`` says how long before the next send."""

    def __init__(self, chat_rate: float, global_rate: float) -> None:
        self.chat_gap = 1.0 / chat_rate
        self.global_gap = 1.0 / global_rate
        self.lock = threading.Lock()
        self.next_global = 0.0
        self.next_chat: dict[str, float] = {}

    def reserve(self, chat: str) -> float:
        """Reserve the next slot for ``chat``; returns the seconds to wait for it."""
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_global)  # the global slot: not held back by one chat
            at = max(slot, self.next_chat.get(chat, 0.0))
            self.next_global = slot + self.global_gap
            self.next_chat[chat] = at + self.chat_gap
            if len(self.next_chat) > 10_000:  # forget chats whose slot has long passed
                self.next_chat = {c: t for c, t in self.next_chat.items() if t > now}
            return at - now


class TelegramSender:
    channel = NAME

    def __init__(self, api: BotApi, ctx: Context, pace: Pace) -> None:
        self.api = api
        self.ctx = ctx
        self.pace = pace

    def send(self, out: Outbound) -> str | None:
        if out.kind == ACKNOWLEDGED:
            return self._edit_ping(out)
        parts: list[tuple[str, Any]] = [("text", p) for p in split(out.text)]
        parts.extend(("file", f) for f in files.load(self.ctx, out))
        last_text = max(n for n, (what, _) in enumerate(parts) if what == "text")
        sent: list[str] = []
        for number, (what, content) in enumerate(parts):
            found = self._claim(out, number)
            if found is not None:
                sent.append(found)
                continue
            markup = self._buttons(out) if number == last_text else None
            message_id = self._send_part(out, number, what, content, markup)
            sent.append(str(message_id))
        return ",".join(sent)[:998]

    # One part ----------------------------------------------------------------------------

    def _claim(self, out: Outbound, number: int) -> str | None:
        """Write this part's row (None: send it); "?" when it was sent (or may have been)."""
        try:
            with self.ctx.db.transaction() as session:
                session.add(TelegramSent(key=out.key, part=number, chat_id=out.recipient))
            return None
        except IntegrityError:
            with self.ctx.db.reading() as session:
                row = session.get(TelegramSent, (out.key, number))
                if row is None:
                    raise DeliveryError("a part of this delivery is being sent elsewhere") from None
            log.info(
                "telegram: part %s of %s was sent (or may have been); not again", number, out.key
            )
            return "?"

    def _unclaim(self, out: Outbound, number: int) -> None:
        with self.ctx.db.transaction() as session:
            session.execute(
                delete(TelegramSent).where(TelegramSent.key == out.key, TelegramSent.part == number)
            )

    def _send_part(
        self, out: Outbound, number: int, what: str, content: Any, markup: dict[str, Any] | None
    ) -> int:
        from telegram.error import BadRequest, Forbidden, RetryAfter, TimedOut

        wait = self.pace.reserve(out.recipient)
        if wait > MAX_WAIT:
            self._unclaim(out, number)
            raise DeliveryError(
                f"sending rate reached; next slot in {wait:.1f} s", retry_after=wait
            )
        if wait > 0:
            time.sleep(wait)
        try:
            message_id = self._call(out.recipient, what, content, markup)
        except RetryAfter as exc:
            self._unclaim(out, number)
            with warnings.catch_warnings():  # an int today, a timedelta in a later release
                warnings.simplefilter("ignore")
                value = exc.retry_after
            seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
            raise DeliveryError(f"Telegram: {exc}", retry_after=seconds, outage=True) from exc
        except Forbidden as exc:  # blocked by the user, kicked from the group, ...
            self._unclaim(out, number)
            raise DeliveryError(f"Telegram refused: {exc}", permanent=True) from exc
        except BadRequest as exc:
            self._unclaim(out, number)
            permanent = (
                "chat not found" in str(exc).lower() or "user is deactivated" in str(exc).lower()
            )
            raise DeliveryError(f"Telegram refused: {exc}", permanent=permanent) from exc
        except TimedOut as exc:  # it may have reached the chat: this part is not sent again
            raise DeliveryError(f"Telegram did not answer in time: {exc}", outage=True) from exc
        except Exception as exc:
            self._unclaim(out, number)
            raise DeliveryError(f"Telegram unreachable: {exc}", outage=True) from exc
        return message_id

    def _call(self, chat: str, what: str, content: Any, markup: dict[str, Any] | None) -> int:
        from telegram import InlineKeyboardMarkup, InputFile

        reply_markup = InlineKeyboardMarkup.de_json(markup, None) if markup else None

        async def run(bot: Any) -> int:
            if what == "text":
                sent = await bot.send_message(chat, content, reply_markup=reply_markup)
            else:
                upload = InputFile(content.data, filename=content.filename)
                if content.content_type in PHOTO_TYPES and len(content.data) <= PHOTO_BYTES:
                    sent = await bot.send_photo(chat, upload, reply_markup=reply_markup)
                else:
                    sent = await bot.send_document(chat, upload, reply_markup=reply_markup)
            return int(sent.message_id)

        return self.api.call(run)

    def _edit_ping(self, out: Outbound) -> str | None:
        """An escalation ping says who acknowledged it, and its button goes."""
        from telegram.error import BadRequest

        message_id = int(out.extras["message_id"])
        text = split(out.text)[0]

        async def run(bot: Any) -> None:
            await bot.edit_message_text(text, chat_id=out.recipient, message_id=message_id)

        try:
            self.api.call(run)
        except BadRequest as exc:  # deleted by the agent, or too old to edit: nothing to do
            raise DeliveryError(f"Telegram refused the edit: {exc}", permanent=True) from exc
        except Exception as exc:
            raise DeliveryError(f"Telegram unreachable: {exc}", outage=True) from exc
        return str(message_id)

    # What goes with the text -------------------------------------------------------------

    def _buttons(self, out: Outbound) -> dict[str, Any] | None:
        """Acknowledge on an escalation ping; the ``extras["buttons"]`` a message offers
        (a satisfaction question's answers), one a row, those whose id Telegram's 64
        bytes of callback data hold."""
        if out.kind == escalation.KIND and out.ticket_number:
            data = f"{ACK_PREFIX}{out.ticket_number}"
            return {"inline_keyboard": [[{"text": "Acknowledge", "callback_data": data}]]}
        rows = [
            [{"text": str(title)[:64], "callback_data": str(button)}]
            for button, title in out.extras.get("buttons") or []
            if 0 < len(str(button).encode()) <= 64
        ]
        return {"inline_keyboard": rows} if rows else None
