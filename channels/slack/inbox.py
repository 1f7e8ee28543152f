"""Storing Slack events before answering, many per transaction (group commit).

Under a burst, each request thread would otherwise open its own write
transaction, and on SQLite (one writer) they queue for the lock. Here request
threads hand their event to one writer thread and wait; the writer stores
everything waiting in one transaction (``INSERT ... ON CONFLICT DO NOTHING``, so
a retried event id is simply not new), then wakes each waiter with whether its
event was new. The answer to Slack still goes out only after the commit.

The HTTP edge (``channels.slack.edge``) awaits ``store_async`` on the event loop,
so a burst needs no thread per waiting request and a whole burst fits in a few
transactions; bolt's listeners (Socket Mode, and the requests the edge hands to
bolt) call the blocking ``store``. Waiters are woken as soon as the commit is
done; a second thread hands the new events to the workers (a broker round trip
each), so the writer is at once free for the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from channels.slack.models import SlackEvent, SlackEventStatus
from core.context import Context

log = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass
class _Pending:
    event_id: str
    kind: str
    payload: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    new: bool = False
    error: BaseException | None = None
    future: asyncio.Future[bool] | None = None

    def finish(self) -> None:
        """Wake whoever waits: a thread (``done``) or a coroutine (``future``, on its loop)."""
        self.done.set()
        if self.future is not None:
            try:
                self.future.get_loop().call_soon_threadsafe(
                    _resolve, self.future, self.new, self.error
                )
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _resolve(future: asyncio.Future[bool], new: bool, error: BaseException | None) -> None:
    if future.done():  # the waiter gave up (timeout, client gone)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(new)


class EventInbox:
    """One writer thread per process; ``store`` blocks until the event is committed."""

    def __init__(self, ctx: Context, on_new: Callable[[list[str]], None]) -> None:
        self.ctx = ctx
        self.on_new = on_new
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.handoff: queue.Queue[list[str]] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.handoff_thread: threading.Thread | None = None

    def store(
        self, event_id: str, kind: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> bool:
        """True when the event is new; raises if it could not be stored (Slack then retries)."""
        self._ensure_thread()
        item = _Pending(event_id, kind, payload)
        self.queue.put(item)
        if not item.done.wait(timeout):
            raise TimeoutError("the Slack event could not be stored in time")
        if item.error is not None:
            raise item.error
        return item.new

    async def store_async(
        self, event_id: str, kind: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> bool:
        """``store`` for a coroutine: awaits the commit without holding a thread."""
        self._ensure_thread()
        item = _Pending(event_id, kind, payload, future=asyncio.get_running_loop().create_future())
        self.queue.put(item)
        assert item.future is not None
        try:
            return await asyncio.wait_for(item.future, timeout)
        except TimeoutError:
            raise TimeoutError("the Slack event could not be stored in time") from None

    def _ensure_thread(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="slack-inbox", daemon=True)
                self.thread.start()
            if self.handoff_thread is None or not self.handoff_thread.is_alive():
                self.handoff_thread = threading.Thread(
                    target=self._hand_off, name="slack-inbox-handoff", daemon=True
                )
                self.handoff_thread.start()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            new_ids: set[str] = set()
            try:
                new_ids = self._write(batch)
                first = set(new_ids)
                for item in batch:
                    item.new = item.event_id in first
                    first.discard(item.event_id)  # the same id twice in one batch: the first wins
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                log.exception("storing %d Slack events failed", len(batch))
                for item in batch:
                    item.error = exc
            for item in batch:
                item.finish()
            if new_ids:  # committed: Slack may have its answers now; the workers come second
                self.handoff.put(sorted(new_ids))

    def _hand_off(self) -> None:
        while True:
            ids = self.handoff.get()
            try:
                self.on_new(ids)
            except Exception:  # noqa: BLE001 - the rows are stored; the clock's sweep picks them up
                log.exception("handing %d Slack events to the workers failed", len(ids))

    def _write(self, batch: list[_Pending]) -> set[str]:
        now = self.ctx.now()
        rows: dict[str, dict[str, Any]] = {}
        for item in batch:
            rows.setdefault(
                item.event_id,
                {
                    "id": item.event_id,
                    "kind": item.kind,
                    "payload": item.payload,
                    "status": SlackEventStatus.PENDING,
                    "received_at": now,
                },
            )
        dialect = postgresql if self.ctx.db.is_postgres else sqlite
        stmt = (
            dialect.insert(SlackEvent)
            .values(list(rows.values()))
            .on_conflict_do_nothing()
            .returning(SlackEvent.id)
        )
        with self.ctx.db.transaction() as session:
            return set(session.execute(stmt).scalars())
