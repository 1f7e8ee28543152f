"""The front door: everything that arrives is stored before it is answered, many at once.

Every edge (the SMTP server, the Slack events endpoint, the webhooks) hands what
arrived to a ``FrontDoor`` and answers its caller only once ``store`` returns:
the raw payload is committed as an inbound record (the same channel and external
id twice is one record, so a platform's retry does nothing twice).

Under a burst, each request would otherwise open its own write transaction, and
on SQLite (one writer) they would queue for the lock. Here callers queue their
item and wait; one writer thread stores whatever has queued up meanwhile in one
transaction (``core.intake.receive_many``) and wakes each waiter. A batch the
database refuses is retried one item at a time, so one bad item never turns away
the others. Waiting costs no thread on an event loop (``store_async``).

The stored records then go to the workers from a second thread, so the writer is
at once free for the next batch: in jobs of up to ``BATCH`` records, and at most
one smaller job per ``linger`` seconds (after a quiet spell a record goes at once;
under load the next ones gather, since deciding twenty records in one
transaction costs about half as much per record as one by one). A hand-over lost
in a crash leaves the records pending, and the clock's sweep hands them over.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from core.context import Context
from core.db import is_outage, report_outage
from core.dispatch import DispatchUnavailable
from core.intake.records import BATCH, Incoming, Received, hand_over_records, receive_many

log = logging.getLogger(__name__)

_R = TypeVar("_R")  # an edge's request
_A = TypeVar("_A")  # its answer

MAX_BATCH = 500  # items stored per transaction at most
ANSWER_FIRST_SECONDS = 1.0  # the longest a hand-over waits for the answers in flight


@dataclass
class _Waiting:
    item: Incoming
    done: threading.Event = field(default_factory=threading.Event)
    result: Received | None = None
    error: BaseException | None = None
    future: asyncio.Future[Received] | None = None

    def finish(self) -> None:
        """Wake whoever waits: a thread (``done``) or a coroutine (``future``, on its loop)."""
        self.done.set()
        if self.future is not None:
            try:
                self.future.get_loop().call_soon_threadsafe(_resolve, self)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _resolve(waiting: _Waiting) -> None:
    future = waiting.future
    if future is None or future.done():  # the waiter gave up (timeout, client gone)
        return
    if waiting.error is not None:
        future.set_exception(waiting.error)
    else:
        assert waiting.result is not None
        future.set_result(waiting.result)


class Answering:
    """How many requests an edge of this process is still answering; the hand-over may
    wait for none (``FrontDoor(before_hand_over=answering.wait_until_answered)``).

    It matters where the workers share the process with the web app (``switchboard
    up``): threads share one interpreter, and a burst would otherwise be worked on
    while later requests of the same burst still wait for their answer."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def begin(self) -> None:
        with self.changed:
            self.count += 1

    def end(self) -> None:
        with self.changed:
            self.count -= 1
            if self.count == 0:
                self.changed.notify_all()

    def counting(self, handler: Callable[[_R], Awaitable[_A]]) -> Callable[[_R], Awaitable[_A]]:
        """``handler`` (an edge's request handler), counted while it answers."""

        async def counted(request: _R) -> _A:
            self.begin()
            try:
                return await handler(request)
            finally:
                self.end()

        return counted

    def wait_until_answered(self, timeout: float = ANSWER_FIRST_SECONDS) -> bool:
        """Block until no request is waiting for its answer (or ``timeout``); True if none is."""
        with self.changed:
            return self.changed.wait_for(lambda: self.count == 0, timeout)


class FrontDoor:
    """One writer thread and one hand-over thread per edge.

    Parameters:
      ctx: the process's context (database, dispatcher).
      linger: how long stored records may wait to be handed over with later ones.
      before_hand_over: called on the hand-over thread before each hand-over (the
        Slack edge waits there until this process has answered its requests).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        linger: float = 0.1,
        before_hand_over: Callable[[], object] | None = None,
    ) -> None:
        self.ctx = ctx
        self.linger = linger
        self.before_hand_over = before_hand_over
        self.queue: queue.Queue[_Waiting] = queue.Queue()
        self.lock = threading.Lock()
        self.stored: list[int] = []  # committed, not yet handed over
        self.wake = threading.Condition(self.lock)
        self.last_hand_over = 0.0
        self.writer: threading.Thread | None = None
        self.handing: threading.Thread | None = None

    # Callers ---------------------------------------------------------------------------

    def store(self, item: Incoming, timeout: float = 10.0) -> Received:
        """Return once ``item`` is committed; raise what stopped it (the caller then
        answers with a temporary failure, and the sender retries)."""
        waiting = _Waiting(item)
        self._put(waiting)
        if not waiting.done.wait(timeout):
            raise TimeoutError("the message could not be stored in time")
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    async def store_async(self, item: Incoming, timeout: float = 10.0) -> Received:
        """``store`` for a coroutine: awaits the commit without holding a thread."""
        waiting = _Waiting(item, future=asyncio.get_running_loop().create_future())
        self._put(waiting)
        assert waiting.future is not None
        try:
            return await asyncio.wait_for(waiting.future, timeout)
        except TimeoutError:
            raise TimeoutError("the message could not be stored in time") from None

    def flush(self) -> None:
        """Hand over what is stored now (when the edge stops)."""
        with self.lock:
            record_ids, self.stored = self.stored, []
        self._hand_over(record_ids)

    # The writer ------------------------------------------------------------------------

    def _put(self, waiting: _Waiting) -> None:
        if self.writer is None or not self.writer.is_alive():
            with self.lock:
                if self.writer is None or not self.writer.is_alive():
                    self.writer = threading.Thread(
                        target=self._write_forever, name="front-door", daemon=True
                    )
                    self.writer.start()
                if self.handing is None or not self.handing.is_alive():
                    self.handing = threading.Thread(
                        target=self._hand_over_forever, name="front-door-handover", daemon=True
                    )
                    self.handing.start()
        self.queue.put(waiting)

    def _write_forever(self) -> None:
        # Callers wait for this thread's commits: on SQLite it goes before the workers.
        self.ctx.db.prefer_this_thread()
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            results = receive_many(self.ctx, [w.item for w in batch], hand_over=False)
        except Exception as exc:
            if len(batch) == 1:
                if not (is_outage(exc) and report_outage(self.ctx.health, exc)):
                    log.exception("storing a %s message failed", batch[0].item.channel)
                batch[0].error = exc
                batch[0].finish()
                return
            # One item the database refuses must not turn away the others.
            for waiting in batch:
                self._write([waiting])
            return
        fresh = [r.record_id for r in results if not r.duplicate and not r.handed_over]
        for waiting, received in zip(batch, results, strict=True):
            waiting.result = received
            waiting.finish()
        if fresh:  # committed and answered: the workers come second
            with self.wake:
                self.stored.extend(fresh)
                self.wake.notify()

    # The hand-over -----------------------------------------------------------------------

    def _hand_over_forever(self) -> None:
        while True:
            with self.wake:
                while not self.stored:
                    self.wake.wait()
                # Let later records join until the linger is over or a full batch formed.
                deadline = self.last_hand_over + self.linger
                while len(self.stored) < BATCH and (left := deadline - time.monotonic()) > 0:
                    self.wake.wait(left)
                record_ids, self.stored = self.stored, []
                self.last_hand_over = time.monotonic()
            self._hand_over(record_ids)

    def _hand_over(self, record_ids: list[int]) -> None:
        if not record_ids:
            return
        try:
            if self.before_hand_over is not None:
                self.before_hand_over()
            hand_over_records(self.ctx, record_ids)
        except DispatchUnavailable:  # the broker is away (in health, logged once)
            pass
        except Exception:  # stored and pending: the clock's sweep hands them over
            log.exception(
                "handing %d stored records to the workers failed; the sweep will",
                len(record_ids),
            )
