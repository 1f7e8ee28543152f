"""The WhatsApp channel (Meta's Cloud API): clients who message instead of email.

- ``edge``: ``GET /whatsapp/webhook`` (the verification handshake) and ``POST
  /whatsapp/webhook`` (signed with the app secret; every message and status stored as
  its own record, then 200)
- ``parse``: a webhook body split into items; a stored message into ``Inbound`` (the
  client's number is its chat: a message continues the number's open ticket)
- ``events``: the window each message opens, statuses onto their deliveries, reactions
  noted on their ticket; the window and "Send on WhatsApp" link for the agent; the
  media fetcher
- ``sender``: replies through the Graph API (free-form inside the 24-hour window, the
  approved template outside it), at most once per outbox key
- ``graph``: the Graph API calls, over httpx
- ``models``: ``whatsapp_chats`` (each number's window) and ``whatsapp_sends``

Configured when ``SWITCHBOARD_WHATSAPP_TOKEN`` is set; the app secret, verify token
and phone number id are then required.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.contract import Channel, Plug, switched_by
from channels.whatsapp.parse import CHANNEL as NAME  # noqa: F401 (Channel.of reads it)
from channels.whatsapp.parse import parse
from core.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from channels.whatsapp.settings import WhatsAppSettings
    from core.channel import Forget
    from core.context import Context

REQUIRED = ("whatsapp_app_secret", "whatsapp_verify_token", "whatsapp_phone_number_id")


def configured(settings: WhatsAppSettings) -> bool:
    return bool(settings.whatsapp_token)


status = switched_by("WhatsApp", "WHATSAPP_TOKEN")


def plug(ctx: Context, settings: WhatsAppSettings) -> Plug:
    """The webhook, the event handler, the fetcher and the sender; reaches no platform."""
    from starlette.routing import Route

    from channels.whatsapp import edge, events
    from channels.whatsapp.graph import Graph
    from channels.whatsapp.sender import WhatsAppSender
    from core.intake.frontdoor import FrontDoor

    missing = [f"SWITCHBOARD_{n.upper()}" for n in REQUIRED if not getattr(settings, n)]
    if missing:
        raise ConfigError(
            f"SWITCHBOARD_WHATSAPP_TOKEN is set, so {', '.join(missing)} must be set too "
            "(see the README: the WhatsApp channel)"
        )
    graph = Graph(
        settings.whatsapp_api_url,
        settings.whatsapp_api_version,
        settings.whatsapp_token,
        settings.whatsapp_phone_number_id,
    )
    door = FrontDoor(ctx)

    def mount(web: Any) -> None:
        web.state.body_limits[edge.PATH] = settings.whatsapp_max_bytes
        web.router.routes.append(
            Route(edge.PATH, edge.verify(settings.whatsapp_verify_token), methods=["GET"])
        )
        web.router.routes.append(
            Route(
                edge.PATH,
                edge.receive(
                    door,
                    secret=settings.whatsapp_app_secret,
                    phone_number_id=settings.whatsapp_phone_number_id,
                    max_bytes=settings.whatsapp_max_bytes,
                ),
                methods=["POST"],
            )
        )

    return Plug(
        sender=WhatsAppSender(
            graph,
            ctx,
            template=settings.whatsapp_template,
            language=settings.whatsapp_template_language,
        ),
        fetcher=events.fetcher(graph),
        events=events.handler(ctx),
        hints=[events.hinter(ctx, settings.whatsapp_template)],
        mount=mount,
    )


def check_number(address: str) -> None:
    digits = address.lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ValueError(
            "a WhatsApp address is the client's number in international form, digits only"
        )


def forget(settings: WhatsAppSettings, session: Session, what: Forget) -> None:
    """An erasure: the client's chat window (their number) and the sends of their
    deliveries (a long reply's parts are ``KEY#2``, ...)."""
    from sqlalchemy import delete, or_

    from channels.whatsapp.models import WhatsAppChat, WhatsAppSend

    session.execute(delete(WhatsAppChat).where(WhatsAppChat.number.in_(what.addresses)))
    parts = [WhatsAppSend.key.like(f"{k}#%") for k in sorted(what.keys)]
    session.execute(delete(WhatsAppSend).where(or_(WhatsAppSend.key.in_(what.keys), *parts)))


CHANNEL = Channel.of(
    __name__,
    "WhatsApp (Cloud API)",
    models=True,
    parser=parse,
    check_address=check_number,
    file_bytes=100 * 1024 * 1024,  # a document (WhatsApp's largest media)
)
