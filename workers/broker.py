"""The Dramatiq broker, chosen by URL, and the actors declared on it.

``memory://`` is Dramatiq's in-process broker (embedded mode: workers run in the
same process); ``redis://`` and ``amqp://`` are the scaled deployments. Actors are
declared per broker instead of at import time, so one process (or one test) can
switch brokers cleanly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from core.dispatch import BROKER, DispatchUnavailable
from core.health import DOWN, UP, Health
from workers.jobs import JOB_PRIORITY, JOB_QUEUE_SUFFIX

log = logging.getLogger(__name__)

RECHECK_SECONDS = 2.0  # while the broker is reported down, how often it is tried again

# Unexpected failures (a database outage, say) are retried by Dramatiq with backoff;
# delivery failures are handled by the deliver job itself, with state in the row.
ACTOR_OPTIONS: dict[str, Any] = {
    "max_retries": 10,
    "min_backoff": 1_000,
    "max_backoff": 300_000,
    "time_limit": 300_000,
}


def make_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("memory://", "stub://")):
        return StubBroker()
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace="switchboard")
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ValueError(f"unsupported broker URL {url!r}")


class Broker:
    """A Dramatiq broker with the jobs it is handed declared on it as actors
    (the core's jobs from ``workers.jobs.JOBS``, and those the channels add)."""

    def __init__(
        self,
        url: str,
        queue_name: str,
        jobs: Mapping[str, Callable[..., None]],
        health: Health | None = None,
    ) -> None:
        self.url = url
        self.queue_name = queue_name
        self.health = health
        self._quieted: ConnectionErrors | None = None
        self.dramatiq = make_broker(url)
        dramatiq.set_broker(self.dramatiq)
        self.actors: dict[str, dramatiq.Actor[Any, Any]] = {
            name: dramatiq.Actor(
                fn,
                broker=self.dramatiq,
                actor_name=name,
                queue_name=queue_name + JOB_QUEUE_SUFFIX.get(name, ""),
                priority=JOB_PRIORITY.get(name, 0),
                options=dict(ACTOR_OPTIONS),
            )
            for name, fn in jobs.items()
        }

    @property
    def in_process(self) -> bool:
        return isinstance(self.dramatiq, StubBroker)

    def send(self, job: str, *args: int | str, delay_ms: int | None = None) -> None:
        """The core's ``Dispatcher``: enqueue ``job(*args)``; raises ``DispatchUnavailable``
        (and reports the broker down, once) when the broker cannot be reached."""
        try:
            self.actors[job].send_with_options(args=args, delay=delay_ms or None)
        except Exception as exc:
            if self.health is not None:
                self.health.set(BROKER, DOWN, "unreachable")
            raise DispatchUnavailable(f"{job}: {type(exc).__name__}") from exc
        self._reachable()

    def _reachable(self) -> None:
        if self.health is not None:
            part = self.health.get(BROKER)
            if part is not None and part.state != UP:
                self.health.up(BROKER)

    def probe(self) -> bool:
        """Whether the broker answers now (a Redis PING, an AMQP connection opened and
        closed); an in-process broker always does."""
        try:
            if isinstance(self.dramatiq, StubBroker):
                return True
            client = getattr(self.dramatiq, "client", None)
            if client is not None:  # Redis
                return bool(client.ping())
            import pika

            pika.BlockingConnection(self.dramatiq.parameters).close()  # type: ignore[attr-defined]
            return True
        except Exception:  # noqa: BLE001 - down is the answer, not an error
            return False

    def watch(self, stopping: threading.Event) -> threading.Thread:
        """While the broker is reported down, try it every RECHECK_SECONDS and report it
        up as soon as it answers: a process that sends nothing meanwhile (a web role
        with no webhooks coming in) still tells the truth in its health."""

        def run() -> None:
            while not stopping.wait(RECHECK_SECONDS):
                part = self.health.get(BROKER) if self.health is not None else None
                if part is not None and part.state != UP and self.probe():
                    self._reachable()

        thread = threading.Thread(target=run, name="broker-watch", daemon=True)
        thread.start()
        return thread

    def worker(self, threads: int) -> dramatiq.Worker:
        """Dramatiq's workers; their consumers' connection errors (logged by Dramatiq on
        every reconnection attempt, with tracebacks) become the broker's state in
        health instead: down once, up again once the watch reaches it."""
        if self.health is not None and self._quieted is None:
            self._quieted = ConnectionErrors(self.health)
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._quieted)
        return dramatiq.Worker(self.dramatiq, worker_threads=threads, worker_timeout=100)

    def close(self) -> None:
        if self._quieted is not None:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._quieted)
            self._quieted = None
        self.dramatiq.close()


class ConnectionErrors(logging.Filter):
    """Drops Dramatiq's reports of a lost broker connection and marks the broker down."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("dramatiq.") and "connection error" in record.getMessage():
            self.health.set(BROKER, DOWN, "unreachable")
            return False
        return True
