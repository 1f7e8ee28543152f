"""What every core function is handed: the database, policies, templates, keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from core.channel import ClientHint, EventHandler, Fetcher, Forgetter, Parser
from core.db import Database
from core.dispatch import Dispatcher, NullDispatcher
from core.health import Health
from core.models import utcnow
from core.policy import Policy
from core.rendering import Renderer
from core.tokens import TRACKING_LINK_DAYS, ack_token, parse_tracking_token, tracking_link_token

if TYPE_CHECKING:
    from core.events import Change

Observer = Callable[["Context", Any, "Change"], None]


@dataclass
class Context:
    """The core's dependencies, built once per process (see ``config.runtime``).

    ``observers`` are called inside the transaction of every ticket change, so a
    subsystem (SLA clocks, the Slack card) can add its own rows atomically.
    """

    db: Database
    policy: Policy
    renderer: Renderer
    secret: bytes
    public_url: str = "http://127.0.0.1:8000"
    dispatcher: Dispatcher = field(default_factory=NullDispatcher)
    now: Callable[[], datetime] = utcnow
    max_attachment_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 50
    max_request_bytes: int = 1024 * 1024  # a web request's body (JSON, forms, webhooks)
    max_upload_bytes: int = 64 * 1024 * 1024  # a form that carries files
    public_requests_per_minute: int = 120  # per address, to the pages without sign-in
    auto_reply_limit_per_hour: int = 5
    # How long a tracking link works after it was sent.
    tracking_link_days: int = TRACKING_LINK_DAYS
    # Tickets the portal form opens per hour: per email address, per client IP.
    portal_per_address_per_hour: int = 5
    portal_per_ip_per_hour: int = 20
    # How long an API write's Idempotency-Key is remembered (``core.idempotency``).
    idempotency_ttl: timedelta = timedelta(hours=24)
    # An answer to our automatic message faster than this is a machine's (0: never).
    machine_answer_seconds: float = 20.0
    observers: list[Observer] = field(default_factory=list)
    # How each channel's stored payloads become ``Inbound`` values (from the registry;
    # a channel without one stores the neutral JSON form).
    parsers: dict[str, Parser] = field(default_factory=dict)
    # How a channel downloads the files its payloads only name, before deciding them.
    fetchers: dict[str, Fetcher] = field(default_factory=dict)
    # How a channel handles its own (staff) events stored beside client messages.
    event_handlers: dict[str, EventHandler] = field(default_factory=dict)
    # What channels tell the agent about a ticket's client (a chat window, a link).
    client_hints: list[ClientHint] = field(default_factory=list)
    # The channels clients can be reached on in this deployment (configured ones).
    client_channels: frozenset[str] = frozenset({"fake", "email"})
    # Channels whose senders are never written to (a monitoring system is not a person).
    silent_channels: frozenset[str] = frozenset()
    # Per channel, the largest file a reply can carry to a client there (0: none).
    file_limits: dict[str, int] = field(default_factory=dict)
    # Per channel, how a client address a person typed is checked (raises ValueError).
    address_checks: dict[str, Callable[[str], None]] = field(default_factory=dict)
    # Per channel, its part of erasing a client's personal data (core.privacy).
    forgetters: dict[str, Forgetter] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    # This process's id in live_processes (work it claims names it); empty: none.
    process_id: str = ""
    # Values that never change once a row exists (queue and category slugs by id),
    # remembered for this process's database only.
    slugs: dict[tuple[str, int], str] = field(default_factory=dict)
    # Queue and category (id, slug) by slug, for opening tickets; same lifetime.
    refs: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict, repr=False)

    def tracking_link(self, nonce: str) -> str:
        """The client's page of the ticket whose tracking nonce this is: a signed,
        dated token (``core.tokens.tracking_link_token``), never the nonce alone."""
        return self.tracking_path(tracking_link_token(self.secret, nonce), full=True)

    def tracking_path(self, token: str, *, full: bool = False) -> str:
        """The page of a tracking token as it came (a path, or with ``full`` a URL)."""
        return f"{self.public_url.rstrip('/') if full else ''}/t/{token}"

    def tracking_nonce(self, token: str) -> str | None:
        """The ticket nonce a tracking token names, or None when it is forged, malformed
        or expired (a revoked one parses, but its nonce names no ticket any more)."""
        return parse_tracking_token(self.secret, token, self.tracking_link_days)

    def satisfaction_link(self, token: str, choice: str = "") -> str:
        """The page where a client answers "Is it fixed?" and rates the resolution;
        ``choice`` (``fixed=yes``, ``rating=4``) preselects an answer, saving nothing."""
        link = f"{self.public_url.rstrip('/')}/s/{token}"
        return f"{link}?{choice}" if choice else link

    def file_link(self, token: str, attachment_id: int, filename: str) -> str:
        """Where a file of the ticket's public conversation can be downloaded."""
        return f"{self.tracking_link(token)}/files/{attachment_id}/{quote(filename or 'file', safe='')}"

    def file_path(self, token: str, attachment_id: int, filename: str) -> str:
        """A file's download path under a tracking token as it came (on the page)."""
        return f"{self.tracking_path(token)}/files/{attachment_id}/{quote(filename or 'file', safe='')}"

    def ack_link(self, escalation_id: int, agent_id: int) -> str:
        """The page where an agent pinged by email or Telegram acknowledges an escalation."""
        return (
            f"{self.public_url.rstrip('/')}/e/ack/{ack_token(self.secret, escalation_id, agent_id)}"
        )
