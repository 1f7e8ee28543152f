"""Long polling (getUpdates), for deployments without a public https URL.

One loop per bot: ask for the updates from the stored offset, store them in one
transaction (the same update twice is one record) and hand them to the workers,
answer button presses at once, then move the offset in the database past what is
stored. A restart reads
the offset back: an update stored but not yet passed is fetched again and is a
duplicate (nothing twice); one not stored was not passed (nothing missed).
"""

from __future__ import annotations

import json
import logging
import threading

from channels.telegram import edge, updates
from channels.telegram.api import BotApi
from channels.telegram.models import TelegramPoll
from core.context import Context
from core.intake import receive_many

log = logging.getLogger(__name__)


class Poller:
    """Parameters: the context, the bot, getUpdates' timeout (s)."""

    def __init__(self, ctx: Context, api: BotApi, timeout: int = 25) -> None:
        self.ctx = ctx
        self.api = api
        self.timeout = timeout
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def offset(self) -> int:
        with self.ctx.db.reading() as session:
            row = session.get(TelegramPoll, self.api.bot_id)
            return row.next_offset if row is not None else 0

    def _save(self, next_offset: int) -> None:
        with self.ctx.db.transaction() as session:
            row = session.get(TelegramPoll, self.api.bot_id, with_for_update=True)
            if row is None:
                session.add(
                    TelegramPoll(
                        bot_id=self.api.bot_id, next_offset=next_offset, updated_at=self.ctx.now()
                    )
                )
            elif next_offset > row.next_offset:
                row.next_offset, row.updated_at = next_offset, self.ctx.now()

    def poll_once(self, timeout: int | None = None) -> int:
        """One getUpdates round; returns how many updates were stored."""
        offset = self.offset()
        params: dict[str, object] = {
            "timeout": self.timeout if timeout is None else timeout,
            "allowed_updates": json.dumps(updates.ALLOWED_UPDATES),
        }
        if offset:
            params["offset"] = offset
        batch = self.api.raw("getUpdates", read_timeout=float(params["timeout"]) + 10, **params)  # type: ignore[arg-type]
        if not batch:
            return 0
        # All of them in one transaction, then to the workers (raises: the offset stays)
        receive_many(
            self.ctx,
            [
                edge.incoming(u, json.dumps(u, separators=(",", ":")).encode(), "polling")
                for u in batch
            ],
        )
        highest = offset - 1
        for update in batch:
            answer = edge.callback_answer(update)
            if answer is not None:
                try:
                    self.api.raw("answerCallbackQuery", **answer)
                except Exception as exc:  # stored: the press still counts
                    log.info("telegram: could not answer a button press: %s", exc)
            highest = max(highest, int(update["update_id"]))
        self._save(highest + 1)
        return len(batch)

    def start(self) -> None:
        """Drop any webhook (Telegram refuses getUpdates while one is set), then poll."""
        self.api.raw("deleteWebhook", drop_pending_updates=False)
        self.stopping.clear()
        self.thread = threading.Thread(target=self.run, name="telegram-poller", daemon=True)
        self.thread.start()

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                self.poll_once()
                failures = 0
            except Exception as exc:
                failures += 1
                wait = min(60.0, 2.0**failures)
                log.warning("telegram: getUpdates failed (%s); again in %.0f s", exc, wait)
                self.stopping.wait(wait)

    def stop(self) -> None:
        self.stopping.set()
