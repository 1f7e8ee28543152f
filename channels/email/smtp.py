"""The SMTP intake server (aiosmtpd): check recipients early, answer 250 only when stored.

The conversation, as a sending MTA sees it:
  RCPT to an unknown address            -> 550 5.1.1
  too many recipients                   -> 452 4.5.3
  DATA larger than the size limit       -> 552 (aiosmtpd, before storing anything)
  lines longer than 1,000 characters    -> accepted (within the size limit): mailers
                                           that send them get no hard bounce
  stored (or already stored: duplicate) -> 250
  database unreachable                  -> 451 4.3.0, nothing stored: the MTA retries
The message is decided later by a worker (``core.intake.process``).

The sessions' messages go through the front door (``core.intake.frontdoor``):
one writer stores whatever has queued up while it was committing the previous
batch, in one transaction; each session answers 250 only once the batch holding
its message committed (451 if that failed). Under light load a batch is one
message, so nothing waits.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email import ids
from channels.email.parse import keys_of
from core import intake
from core.context import Context
from core.db import report_outage
from core.intake.frontdoor import FrontDoor
from core.tokens import parse_reply_token, redact

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 50


class Recipients:
    """Which addresses this server takes mail for: support addresses and reply addresses."""

    def __init__(self, support: list[str], secret: bytes) -> None:
        self.support = {a.lower() for a in support}
        self.secret = secret

    def accepts(self, address: str) -> bool:
        address = address.strip().strip("<>").lower()
        if address in self.support:
            return True
        base, tag = ids.split_plus(address)
        return (
            base in self.support
            and tag is not None
            and parse_reply_token(self.secret, tag) is not None
        )


INLINE_KEYS = 256 * 1024  # bytes of a message whose keys are computed on the event loop


class IntakeHandler:
    """aiosmtpd handler: RCPT checks and the commit-before-250 DATA step."""

    def __init__(self, ctx: Context, recipients: Recipients) -> None:
        self.ctx = ctx
        self.recipients = recipients
        self.door = FrontDoor(ctx)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.recipients.accepts(address):
            log.info(
                "refused mail for unknown recipient %s",
                redact(address) if "+" in address else address,
            )
            return "550 5.1.1 No such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(
            envelope.original_content
            or (envelope.content if isinstance(envelope.content, bytes) else b"")
        )
        meta: dict[str, Any] = {
            "mail_from": envelope.mail_from or "",
            "rcpt": list(envelope.rcpt_tos),
            "peer": str(session.peer[0]) if session.peer else "",
        }
        try:
            # the keys digest the body: a large one is read off the event loop, so the
            # other sessions are not kept waiting (about 4 ms per MB)
            keys = await asyncio.to_thread(keys_of, raw) if len(raw) > INLINE_KEYS else keys_of(raw)
            external_id, written_key = keys
            item = intake.Incoming("email", external_id, raw, meta, "smtp", written_key)
            received = await self.door.store_async(item, timeout=60)
        except Exception as exc:
            if not report_outage(self.ctx.health, exc):
                log.exception("could not store an inbound message; answered 451 so it is retried")
            return "451 4.3.0 Temporary failure storing the message, please try again later"
        return f"250 2.0.0 OK: stored as record {received.record_id}" + (
            " (duplicate)" if received.duplicate else ""
        )


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key) if key else None)
    return context


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP with a line limit as large as the message limit.

    RFC 5321 allows servers to refuse lines over 1,000 characters, and aiosmtpd
    does (500); real mailers send them anyway, and a refusal is a hard bounce to a
    client. The limit also sizes the stream buffer, so it stays the message limit.
    """

    def __init__(self, handler: Any, *, line_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_limit
        super().__init__(handler, **kwargs)


class IntakeController(Controller):
    """The aiosmtpd controller; stopping it hands over the messages still lingering."""

    def factory(self) -> SMTP:
        limit = int(self.SMTP_kwargs.get("data_size_limit") or 0) + 1024
        return IntakeSMTP(self.handler, line_limit=max(limit, 1001), **self.SMTP_kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        super().stop(*args, **kwargs)
        self.handler.door.flush()


def make_server(
    ctx: Context,
    *,
    host: str,
    port: int,
    support: list[str],
    max_bytes: int,
    cert: Path | None = None,
    key: Path | None = None,
) -> Controller:
    """An unstarted aiosmtpd controller (call ``.start()`` / ``.stop()``)."""
    handler = IntakeHandler(ctx, Recipients(support, ctx.secret))
    return IntakeController(
        handler,
        hostname=host,
        port=port,
        data_size_limit=max_bytes,
        enable_SMTPUTF8=True,
        tls_context=tls_context(cert, key),
        require_starttls=False,
        ident="Switchboard",
    )
