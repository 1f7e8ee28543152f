"""The WhatsApp sender: replies and notices through the Graph API, at most once per key.

Inside the 24-hour customer-service window (from the client's last message,
``events.window_left``) a message goes free-form: text in parts of at most 4,096
characters, split on paragraphs, and the product's question buttons
(``Outbound.extras["buttons"]``: (id, title) pairs) as an interactive message (reply
buttons, at most 3 with titles of at most 20 characters; more become a list), then
an agent's files on a reply, each uploaded (``/media``) and sent after the text: a
JPEG or PNG up to 5 MB as an image, anything else as a document with its name.
Outside it, WhatsApp refuses free-form messages (error 131047), so the configured
approved template goes instead, with the ticket number and tracking link as its
body parameters; with none configured the delivery fails, saying so. A 131047 that
comes anyway (our clock and WhatsApp's disagree) sends the template at once; one
that comes later, in a failed status, queues it (``events``: ``extras[TEMPLATE]``).

Never twice for one key: a ``WhatsAppSend`` row per part is written before the
call and its wamid after. A retry skips the parts that have a wamid; a part whose
earlier call got no answer at all may have been delivered, so it is not sent again
(the delivery fails, saying so). WhatsApp's rate limits (130429 for the number,
131056 for the pair) and its transient errors are retried later; every other error
is permanent, shown with its code and title.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from channels.whatsapp.events import REENGAGEMENT, TEMPLATE, window_left
from channels.whatsapp.graph import Graph, GraphError
from channels.whatsapp.models import WhatsAppSend
from channels.whatsapp.parse import CHANNEL
from core.context import Context
from core.errors import DeliveryError
from core.models import Ticket
from core.tickets import files
from core.tickets.files import OutFile
from core.tickets.lookup import follow_merges
from core.values import Outbound

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
BODY_LIMIT = 1024  # an interactive message's body
BUTTON_TITLE = 20
ROW_TITLE = 24
MAX_BUTTONS = 3
MAX_ROWS = 10
RATE_LIMITS = {130429: 5.0, 131056: 60.0}  # seconds to wait: the number's, the pair's
TRANSIENT = {1, 2, 4, 80007, 131000, 131016, 131057}
IMAGE_TYPES = ("image/jpeg", "image/png")
IMAGE_BYTES = 5 * 1024 * 1024


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at paragraphs, then lines,
    then words where it can."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or window.rfind(" ")
        if cut <= limit // 4:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest or not parts else parts


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def translate(exc: GraphError) -> DeliveryError:
    if exc.code in RATE_LIMITS or exc.status == 429:
        return DeliveryError(str(exc), retry_after=RATE_LIMITS.get(exc.code, 5.0), outage=True)
    if exc.code in TRANSIENT or exc.status >= 500:
        return DeliveryError(str(exc), outage=True)
    return DeliveryError(str(exc), permanent=True)


class WhatsAppSender:
    channel = CHANNEL

    def __init__(
        self, graph: Graph, ctx: Context, *, template: str = "", language: str = "en_US"
    ) -> None:
        self.graph = graph
        self.ctx = ctx
        self.template = template
        self.language = language

    def send(self, out: Outbound) -> str | None:
        try:
            return self._send(out)
        except GraphError as exc:
            raise translate(exc) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"WhatsApp unreachable: {exc}", outage=True) from exc

    def _send(self, out: Outbound) -> str:
        with self.ctx.db.reading() as session:
            open_window = window_left(session, out.recipient, self.ctx.now()).total_seconds() > 0
        if not open_window or out.extras.get(TEMPLATE):
            return self._template(out)
        attached = files.load(self.ctx, out)
        bodies = self._free_form(out)
        if not bodies and not attached:
            raise DeliveryError("the message has no text to send", permanent=True)
        wamid = ""
        for n, (kind, body) in enumerate(bodies):
            try:
                wamid = self._once(f"{out.key}#{n}" if n else out.key, kind, body)
            except GraphError as exc:
                if exc.code == REENGAGEMENT and n == 0:  # our clock and WhatsApp's disagree
                    log.info("whatsapp: the window of outbox key %s is closed after all", out.key)
                    return self._template(out)
                raise
        for n, item in enumerate(attached):
            kind = (
                "image"
                if item.content_type in IMAGE_TYPES and len(item.data) <= IMAGE_BYTES
                else "document"
            )
            wamid = self._once(f"{out.key}#file{n}", kind, self._file_body(out, kind, item))
        return wamid

    def _file_body(self, out: Outbound, kind: str, item: OutFile) -> Callable[[], dict[str, Any]]:
        """The body sending ``item``, uploading it only when it is asked for (a retry
        that finds the part sent uploads nothing)."""

        def body() -> dict[str, Any]:
            media: dict[str, Any] = {
                "id": self.graph.upload(item.data, item.filename, item.content_type)
            }
            if kind == "document":
                media["filename"] = item.filename
            return {**self._base(out, kind), kind: media}

        return body

    # Bodies -------------------------------------------------------------------------------

    def _base(self, out: Outbound, kind: str) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": out.recipient,
            "type": kind,
        }

    def _free_form(self, out: Outbound) -> list[tuple[str, dict[str, Any]]]:
        parts = chunks(out.text or out.subject or "")
        buttons: Sequence[Sequence[str]] = out.extras.get("buttons") or []
        question = ""
        if buttons and len(parts[-1]) <= BODY_LIMIT:
            question = parts.pop()
        bodies = [
            ("text", {**self._base(out, "text"), "text": {"body": part, "preview_url": False}})
            for part in parts
            if part
        ]
        if buttons:
            bodies.append(("buttons", self._buttons(out, question or "Please choose:", buttons)))
        return bodies

    def _buttons(
        self, out: Outbound, question: str, buttons: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        if len(buttons) <= MAX_BUTTONS:
            interactive: dict[str, Any] = {
                "type": "button",
                "body": {"text": question},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": str(i), "title": _clip(t, BUTTON_TITLE)}}
                        for i, t in buttons
                    ]
                },
            }
        else:
            rows = [{"id": str(i), "title": _clip(t, ROW_TITLE)} for i, t in buttons[:MAX_ROWS]]
            interactive = {
                "type": "list",
                "body": {"text": question},
                "action": {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]},
            }
        return {**self._base(out, "interactive"), "interactive": interactive}

    def _template(self, out: Outbound) -> str:
        if not self.template:
            raise DeliveryError(
                "the client's 24-hour WhatsApp window is closed and no template is configured "
                "(SWITCHBOARD_WHATSAPP_TEMPLATE): WhatsApp would refuse a free-form message",
                permanent=True,
            )
        with self.ctx.db.reading() as session:
            ticket = None
            ticket_id = out.thread.get("ticket_id")
            if ticket_id:
                ticket = session.get(Ticket, int(ticket_id))
            elif out.ticket_number:
                ticket = session.execute(
                    select(Ticket).where(Ticket.id == int(out.ticket_number.split("-")[-1]))
                ).scalar_one_or_none()
            if ticket is None:
                raise DeliveryError(
                    "the client's 24-hour WhatsApp window is closed and this message belongs "
                    "to no ticket, so the template has nothing to name",
                    permanent=True,
                )
            ticket = follow_merges(session, ticket)  # where the request lives now
            number, link = ticket.number, self.ctx.tracking_link(ticket.tracking_token)
        body = {
            **self._base(out, "template"),
            "template": {
                "name": self.template,
                "language": {"policy": "deterministic", "code": self.language},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": number},
                            {"type": "text", "text": link},
                        ],
                    }
                ],
            },
        }
        return self._once(f"{out.key}#template", "template", body)

    # At most once ----------------------------------------------------------------------

    def _once(
        self, key: str, kind: str, body: dict[str, Any] | Callable[[], dict[str, Any]]
    ) -> str:
        db = self.ctx.db
        try:
            with db.transaction() as session:
                row = session.get(WhatsAppSend, key, with_for_update=True)
                if row is not None and row.wamid:
                    return row.wamid
                if row is not None:
                    raise DeliveryError(
                        "an earlier attempt got no answer from WhatsApp and may have been "
                        "delivered: not sent again",
                        permanent=True,
                    )
                session.add(WhatsAppSend(key=key, kind=kind, created_at=self.ctx.now()))
        except IntegrityError:
            raise DeliveryError("another worker is sending this message", retry_after=5) from None
        try:
            wamid = self.graph.send(body() if callable(body) else body)
        except (GraphError, httpx.ConnectError):  # an answer, or no connection: nothing was sent
            with db.transaction() as session:
                row = session.get(WhatsAppSend, key, with_for_update=True)
                if row is not None and not row.wamid:
                    session.delete(row)
            raise
        with db.transaction() as session:
            row = session.get(WhatsAppSend, key, with_for_update=True)
            assert row is not None
            row.wamid = wamid
        return wamid
