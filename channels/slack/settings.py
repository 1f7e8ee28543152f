"""Settings of the Slack channel (``SWITCHBOARD_SLACK_*``)."""

from __future__ import annotations

from pydantic import Field

from config.core_settings import CoreSettings, secret


class SlackSettings(CoreSettings):
    """The core's settings and the Slack channel's: what its code is given."""

    slack_bot_token: str = secret("Slack bot token (xoxb-...); empty: the Slack channel is off.")
    slack_signing_secret: str = secret(
        "Slack signing secret: every request to /slack/events is checked against it."
    )
    slack_socket_mode: bool = Field(
        False,
        description="Connect to Slack over Socket Mode instead of receiving HTTP requests (no public URL needed).",
    )
    slack_app_token: str = secret("Slack app-level token (xapp-...) for Socket Mode.")
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (a loopback fake in tests)."
    )
    slack_default_channel: str = Field(
        "", description="Channel id for ticket cards when the ticket's queue names none."
    )
    slack_intake_channels: str = Field(
        "",
        description="Comma-separated channel ids where messages from non-agents open or continue tickets (the bot's DMs always do).",
    )
    slack_undo_seconds: float = Field(
        30.0,
        ge=0,
        le=600,
        description="How long a public reply typed in Slack waits, with an Undo button, before it leaves.",
    )
