"""The one list of channels. Adding a channel: write its package, add it here.

Everything else (the workers' senders and jobs, the clock's ticks, the parsers
the core uses, the web routes, the tables the schema holds, the services a
process role runs) is collected from these values by ``config.runtime``.
"""

from __future__ import annotations

from channels import alerts, email, fake, slack, telegram, whatsapp
from channels.contract import Channel

CHANNELS: tuple[Channel, ...] = (
    fake.CHANNEL,
    email.CHANNEL,
    slack.CHANNEL,
    alerts.CHANNEL,
    telegram.CHANNEL,
    whatsapp.CHANNEL,
)


def by_name(name: str) -> Channel | None:
    return next((c for c in CHANNELS if c.name == name), None)
