"""The one list of channels. Adding a channel: write its package, add it here
(its ``CHANNEL`` to ``CHANNELS``, and its settings class, if it has settings, to
``ChannelSettings``).

Everything else (the workers' senders and jobs, the clock's ticks, the parsers
the core uses, the web routes, the tables the schema holds, the services a
process role runs) is collected from these values by ``config.runtime``.
"""

from __future__ import annotations

from channels import alerts, email, fake, slack, telegram, whatsapp
from channels.alerts.settings import AlertsSettings
from channels.contract import Channel
from channels.email.settings import EmailSettings
from channels.fake.settings import FakeSettings
from channels.slack.settings import SlackSettings
from channels.telegram.settings import TelegramSettings
from channels.whatsapp.settings import WhatsAppSettings

CHANNELS: tuple[Channel, ...] = (
    fake.CHANNEL,
    email.CHANNEL,
    slack.CHANNEL,
    alerts.CHANNEL,
    telegram.CHANNEL,
    whatsapp.CHANNEL,
)


class ChannelSettings(
    WhatsAppSettings, TelegramSettings, AlertsSettings, SlackSettings, EmailSettings, FakeSettings
):
    """Every channel's settings, each an extension of the core's (listed last to first:
    the fields of the first class listed come last); ``config.settings.Settings``."""


def by_name(name: str) -> Channel | None:
    return next((c for c in CHANNELS if c.name == name), None)
