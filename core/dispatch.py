"""How the core hands work to the workers without importing them.

The core calls ``Dispatcher.send(job, *args)`` after a commit. The workers plug in
a Dramatiq-backed dispatcher; with none, rows simply wait for the clock's sweep.
"""

from __future__ import annotations

from typing import Protocol

BROKER = "broker"  # its part name in ``core.health``


class DispatchUnavailable(Exception):
    """The broker cannot be reached now. Nothing is lost: the work is a row in the
    database, and the clock's sweep hands it over once the broker is back. The outage
    is in ``core.health`` (logged once), so a caller logs nothing more."""


class Dispatcher(Protocol):
    def send(self, job: str, *args: int | str, delay_ms: int | None = None) -> None: ...


class NullDispatcher:
    """Sends nothing: pending outbox rows and inbound records wait for the sweep."""

    def send(self, job: str, *args: int | str, delay_ms: int | None = None) -> None:
        return None
