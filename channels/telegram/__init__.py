"""The Telegram channel: clients message the bot instead of writing an email.

- ``edge``: ``POST /telegram/webhook``: checks the secret token header, stores the update
- ``polling``: getUpdates in a loop, its offset in the database (no public URL needed)
- ``updates``: what kind an update is, the id it is stored under, the files it names
- ``files``: downloads those files before the message is decided (``Plug.fetcher``)
- ``parse``: a stored update as an ``Inbound``; ``events``: commands, edits, buttons
- ``sender``: outbox rows to chats (split, files uploaded, rates, 429, blocked bots)
- ``linking``: agents link their Telegram account with a one-time code
- ``pings``: escalation pings edited to say who acknowledged them
- ``api``: python-telegram-bot on an event loop of its own; ``models``: the tables

Configured when ``SWITCHBOARD_TELEGRAM_BOT_TOKEN`` is set. Webhook mode when the
public URL is https (or ``SWITCHBOARD_TELEGRAM_MODE=webhook``): the web role
registers the webhook with setWebhook and its secret; long polling otherwise, as a
service of the ``poll`` role (part of ``switchboard up``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from channels.contract import Channel, Plug, Service, switched_by
from channels.telegram.parse import NAME, parse

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from channels.telegram.settings import TelegramSettings
    from core.channel import Forget
    from core.context import Context


def configured(settings: TelegramSettings) -> bool:
    return bool(settings.telegram_bot_token)


status = switched_by("Telegram", "TELEGRAM_BOT_TOKEN")


def webhook_mode(settings: TelegramSettings) -> bool:
    if settings.telegram_mode == "auto":
        return settings.public_url.startswith("https://")
    return settings.telegram_mode == "webhook"


def webhook_secret(settings: TelegramSettings) -> str:
    """The configured secret, or one derived from the secret key (hex: allowed characters)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    return hmac.new(settings.signing_key(), b"telegram-webhook", hashlib.sha256).hexdigest()


def check_address(address: str) -> None:
    if not address.lstrip("-").isdigit():
        raise ValueError(f"a Telegram chat id is a number, not {address!r}")


def plug(ctx: Context, settings: TelegramSettings) -> Plug:
    """The sender, the fetcher, the event handler, and the webhook or the poller."""
    from channels.telegram import edge, files, pings
    from channels.telegram.api import BotApi
    from channels.telegram.events import Events
    from channels.telegram.polling import Poller
    from channels.telegram.sender import Pace, TelegramSender
    from core.intake.frontdoor import FrontDoor

    api = BotApi(settings.telegram_bot_token, settings.telegram_api_url)
    events = Events(ctx, allow_groups=settings.telegram_allow_groups)
    sender = TelegramSender(
        api, ctx, Pace(settings.telegram_chat_rate, settings.telegram_global_rate)
    )
    # Stored updates reach the workers once this process has answered the webhook
    # requests in flight (it matters where they share the process: switchboard up).
    door = FrontDoor(ctx, before_hand_over=edge.ANSWERING.wait_until_answered)
    secret = webhook_secret(settings)

    def mount(web: Any) -> None:
        from starlette.routing import Route

        from channels.telegram.web import link_code_route

        if webhook_mode(settings):
            web.state.body_limits[edge.PATH] = edge.MAX_BYTES
            web.router.routes.append(
                Route(edge.PATH, edge.endpoint(door, secret), methods=["POST"])
            )
        link_code_route(web)

    services: list[Service] = []
    if webhook_mode(settings):
        url = f"{settings.public_url.rstrip('/')}{edge.PATH}"
        if not url.startswith("https://"):
            from core.errors import ConfigError

            raise ConfigError(
                "SWITCHBOARD_TELEGRAM_MODE is webhook but SWITCHBOARD_PUBLIC_URL is not https: "
                "Telegram sends webhooks to https URLs only (set it, or use polling)"
            )

        def set_webhook() -> None:
            from channels.telegram.updates import ALLOWED_UPDATES

            api.raw(
                "setWebhook",
                url=url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )

        services.append(Service(f"Telegram webhook at {url}", "web", set_webhook))
    else:
        poller = Poller(ctx, api, settings.telegram_poll_timeout)
        services.append(Service("Telegram long polling", "poll", poller.start, poller.stop))
    return Plug(
        sender=sender,
        observers=[pings.observe],
        fetcher=files.fetcher(api),
        events=events.handle,
        mount=mount,
        services=services,
    )


def forget(settings: TelegramSettings, session: Session, what: Forget) -> None:
    """An erasure: the parts sent to the client's chats, or for their deliveries."""
    from sqlalchemy import delete, or_

    from channels.telegram.models import TelegramSent

    session.execute(
        delete(TelegramSent).where(
            or_(TelegramSent.key.in_(what.keys), TelegramSent.chat_id.in_(what.addresses))
        )
    )


CHANNEL = Channel.of(
    __name__,
    "Telegram",
    models=True,
    parser=parse,
    check_address=check_address,
    file_bytes=50 * 1024 * 1024,  # the most the Bot API takes from a bot in one upload
)

__all__ = ["CHANNEL", "NAME", "parse", "webhook_secret"]
