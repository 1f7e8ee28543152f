"""The clock role: a loop that ticks every few seconds.

Each tick re-sends overdue work to the broker and runs the registered tick
functions (SLA checkpoints and escalations hang here); every few minutes it
writes an audit checkpoint over all chains.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from core.context import Context
from core.sla import watch as slawatch
from workers.sweep import checkpoint, sweep

log = logging.getLogger(__name__)

Tick = Callable[[Context], object]
TICKS: list[Tick] = []
TICKS.append(slawatch.tick)  # SLA checkpoints: warnings, breaches, escalation starts
CHECKPOINT_EVERY = timedelta(minutes=10)


class Clock:
    def __init__(self, ctx: Context, *, interval: float, redeliver_after: timedelta) -> None:
        self.ctx = ctx
        self.interval = interval
        self.redeliver_after = redeliver_after
        self.stop_event = threading.Event()
        self._last_checkpoint = 0.0

    def tick(self) -> None:
        sweep(self.ctx, self.redeliver_after)
        for fn in TICKS:
            fn(self.ctx)
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_EVERY.total_seconds():
            checkpoint(self.ctx)
            self._last_checkpoint = time.monotonic()

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
