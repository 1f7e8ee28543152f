"""The clock role: a loop that ticks every few seconds.

Each tick re-sends overdue work to the broker, runs the SLA checkpoints, the desk
rules (``core.desk.watch``) and the tick functions it is handed (channels add theirs), and every few minutes writes
an audit checkpoint over all chains. Each step runs on its own: one that fails
is logged and the others still run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

from core.context import Context
from core.db import report_outage
from core.desk import watch as deskwatch
from core.dispatch import DispatchUnavailable
from core.sla import watch as slawatch
from workers.sweep import checkpoint, sweep

log = logging.getLogger(__name__)

Tick = Callable[[Context], object]
CHECKPOINT_EVERY = timedelta(minutes=10)


class Clock:
    def __init__(
        self,
        ctx: Context,
        *,
        interval: float,
        redeliver_after: timedelta,
        ticks: Sequence[Tick] = (),
    ) -> None:
        self.ctx = ctx
        # SLA checkpoints first (warnings, breaches, escalation starts), then the desk
        # rules (unassigned too long, holds past their limit), then the channels'.
        self.ticks: list[Tick] = [slawatch.tick, deskwatch.tick, *ticks]
        self.interval = interval
        self.redeliver_after = redeliver_after
        self.stop_event = threading.Event()
        self._last_checkpoint: float | None = None  # the first tick makes one

    def tick(self) -> None:
        """One tick; a step that fails is logged and never stops the steps after it."""
        self._step("re-sending overdue work", lambda: sweep(self.ctx, self.redeliver_after))
        for fn in self.ticks:
            self._step(getattr(fn, "__qualname__", repr(fn)), partial(fn, self.ctx))
        last = self._last_checkpoint
        if last is None or time.monotonic() - last >= CHECKPOINT_EVERY.total_seconds():
            if self._step("the audit checkpoint", lambda: checkpoint(self.ctx)):
                self._last_checkpoint = time.monotonic()

    def _step(self, name: str, fn: Callable[[], object]) -> bool:
        try:
            fn()
            return True
        except DispatchUnavailable:  # the broker is away: in health, logged once
            return False
        except Exception as exc:
            if not report_outage(self.ctx.health, exc):  # an outage is logged once
                log.exception("clock step %s failed; the other steps go on", name)
            return False

    def run(self) -> None:
        log.info("clock ticking every %.1fs", self.interval)
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                log.exception("clock tick failed; trying again next tick")
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="switchboard-clock", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
