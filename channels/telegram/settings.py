"""Settings of the Telegram channel (``SWITCHBOARD_TELEGRAM_*``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from config.core_settings import CoreSettings, secret


class TelegramSettings(CoreSettings):
    """The core's settings and the Telegram channel's: what its code is given."""

    telegram_bot_token: str = secret(
        "Telegram bot token from BotFather (123456:ABC-...); empty: the Telegram channel is off."
    )
    telegram_webhook_secret: str = secret(
        "Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with every webhook request (1-256 of A-Z a-z 0-9 _ -); empty: derived from SWITCHBOARD_SECRET_KEY."
    )
    telegram_mode: str = Field(
        "auto",
        description="How updates arrive: webhook (POST /telegram/webhook, registered with setWebhook), polling (getUpdates), or auto: webhook when SWITCHBOARD_PUBLIC_URL is https, polling otherwise.",
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        description="Bot API base URL (a local Bot API server, or a loopback fake in tests).",
    )
    telegram_allow_groups: bool = Field(
        False,
        description="Take messages from group chats too; off: only private chats with the bot are read, group messages are ignored.",
    )
    telegram_poll_timeout: int = Field(
        25, ge=0, le=50, description="Long-polling timeout in seconds for getUpdates."
    )
    telegram_chat_rate: float = Field(
        1.0, gt=0, description="Messages per second sent to one chat at most."
    )
    telegram_global_rate: float = Field(
        30.0, gt=0, description="Messages per second the bot sends in all at most."
    )

    @field_validator("telegram_mode")
    @classmethod
    def _known_telegram_mode(cls, value: str) -> str:
        if value not in ("auto", "webhook", "polling"):
            raise ValueError("must be auto, webhook or polling")
        return value
