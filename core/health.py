"""What this process knows about the parts it depends on: up, degraded, or down.

Channels and roles report here (a platform that cannot be reached at start, say);
``/healthz`` and ``switchboard check`` read it. A part that changes state is
logged once, when it changes, never once per failed attempt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)

UP, DEGRADED, DOWN = "up", "degraded", "down"


@dataclass(frozen=True)
class PartState:
    state: str
    detail: str
    since: datetime


class Health:
    """Thread-safe map of part name -> state, logging each change once."""

    def __init__(self) -> None:
        self._parts: dict[str, PartState] = {}
        self._lock = threading.Lock()

    def set(self, part: str, state: str, detail: str = "") -> None:
        with self._lock:
            previous = self._parts.get(part)
            if previous is not None and previous.state == state:
                if previous.detail != detail:
                    self._parts[part] = PartState(state, detail, previous.since)
                return
            self._parts[part] = PartState(state, detail, datetime.now(UTC))
        if state == UP:
            if previous is not None:
                log.warning("%s is up again", part)
        else:
            log.warning("%s is %s: %s", part, state, detail)

    def up(self, part: str) -> None:
        self.set(part, UP)

    def get(self, part: str) -> PartState | None:
        with self._lock:
            return self._parts.get(part)

    def snapshot(self) -> dict[str, PartState]:
        with self._lock:
            return dict(self._parts)

    @property
    def ok(self) -> bool:
        return all(p.state == UP for p in self.snapshot().values())
