"""The contract every outbound sender follows."""

from __future__ import annotations

from typing import Protocol

from core.values import Outbound


class Sender(Protocol):
    """Delivers one ``Outbound``; returns the channel's id for what it sent.

    Must make a second call with the same ``out.key`` harmless: either the channel
    recognises it (a stable Message-ID) or the sender refuses to send it twice.
    Raises ``core.errors.DeliveryError`` (``permanent=True`` when retrying is useless).
    """

    channel: str

    def send(self, out: Outbound) -> str | None: ...
