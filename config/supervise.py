"""Start the services of a process role; one that cannot start yet is retried, not fatal.

A channel's service (an SMTP server, a Socket Mode connection, a token check)
whose ``start`` raises is reported degraded in ``core.health`` and started again
in the background, with a growing pause (1 s doubling up to a minute), until it
comes up or the process stops. Only a configuration error stops the process: no
retry can mend it.
"""

from __future__ import annotations

import logging
import threading

from channels.contract import Service
from core.errors import ConfigError
from core.health import DEGRADED, Health

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 60.0


class Supervisor:
    def __init__(self, health: Health) -> None:
        self.health = health
        self.stopping = threading.Event()
        self.started: list[Service] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self, services: list[Service]) -> None:
        """Start each service now; those that fail keep being retried in the background."""
        for service in services:
            if not self._try(service):
                thread = threading.Thread(
                    target=self._retry, args=(service,), name=f"retry {service.name}", daemon=True
                )
                thread.start()
                self.threads.append(thread)

    def _try(self, service: Service) -> bool:
        if self.stopping.is_set():
            return True
        try:
            service.start()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - a platform that is down: report, retry
            self.health.set(service.name, DEGRADED, _plain(exc))
            return False
        with self.lock:
            if self.stopping.is_set():  # stopped while starting: undo
                service.stop()
                return True
            self.started.append(service)
        self.health.up(service.name)
        return True

    def _retry(self, service: Service) -> None:
        pause = FIRST_PAUSE
        while not self.stopping.wait(pause):
            try:
                if self._try(service):
                    return
            except ConfigError:
                log.exception("%s cannot start: configuration error", service.name)
                return
            pause = min(pause * 2, LONGEST_PAUSE)

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            started, self.started = self.started, []
        for service in reversed(started):
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - stopping the others matters more
                log.exception("stopping %s failed", service.name)


def _plain(exc: Exception) -> str:
    """A short, internals-free reason for the health report."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]
