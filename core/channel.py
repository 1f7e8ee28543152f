"""What the core asks of a channel, and nothing more.

A channel turns its stored raw payloads into ``Inbound`` values (a ``Parser``)
and delivers ``Outbound`` values (a ``Sender``). The core never imports a
channel: the process hands it the parsers (``Context.parsers``) and the workers
the senders, both from the channel registry (``channels.registry``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.values import Inbound, Outbound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.models import InboundRecord, Ticket

Parser = Callable[[bytes, dict[str, Any]], Inbound]
"""Raw stored payload and its meta -> ``Inbound``; raises ``IntakeError`` when unreadable."""


@dataclass(frozen=True)
class Fetched:
    """One file a stored payload only names (a Telegram file_id, a WhatsApp media id).

    ``ref`` is the platform's id for it, as the parser finds it in the payload;
    ``data`` its bytes, or None with ``problem`` saying plainly why it could not be
    fetched (too large for the platform to hand over, expired, refused)."""

    ref: str
    filename: str = ""
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    problem: str = ""


Fetcher = Callable[[bytes, dict[str, Any], int], "list[Fetched]"]
"""Raw stored payload, its meta and the largest file kept (bytes) -> the files it names,
downloaded. Called by the worker before the record is decided, outside any
transaction (``core.intake.fetch``); raising means the platform could not be asked
now: the files are recorded as not fetched, with the error, and the message is
still decided (the raw payload keeps their ids)."""


class Sender(Protocol):
    """Delivers one ``Outbound``; returns the channel's id for what it sent.

    Must make a second call with the same ``out.key`` harmless: either the channel
    recognises it (a stable Message-ID) or the sender refuses to send it twice.
    Raises ``core.errors.DeliveryError`` (``permanent=True`` when retrying is useless).
    """

    channel: str

    def send(self, out: Outbound) -> str | None: ...


EventHandler = Callable[["Session", "InboundRecord"], "str | None"]
"""A channel's own events stored beside client messages (a staff member's button press,
a command): handled inside the record's transaction, returning what was done; None
when the record is a client's message after all, for the intake rules to decide.
Raising parks the record with the error, listed and retryable like any other."""


@dataclass(frozen=True)
class Forget:
    """What an erasure of a client's personal data (``core.privacy``) asks each channel
    to forget of its own: the outbox keys of every delivery to the client or about
    their tickets, and the client's addresses on that channel."""

    keys: frozenset[str]
    addresses: frozenset[str]


Forgetter = Callable[["Session", Forget], None]
"""A channel's part of an erasure, in its transaction: deletes the rows of its own
tables that hold the client's addresses or those deliveries, and removes what it
wrote outside the database (files) with ``core.db.after_commit``."""


ClientHint = Callable[["Session", "Ticket"], "list[dict[str, str]]"]
"""What a channel tells the agent about a ticket's client, on the ticket view and the
Slack card: each item a note (``{"text": ...}``, with ``"until"``, an ISO time, when
it holds only until then: the WhatsApp window) or a link to
follow (``{"label": ..., "link": ...}``: "Send on WhatsApp"). Read-only, and cheap:
it runs each time a card is drawn."""
