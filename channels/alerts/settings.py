"""The alerts channel's settings (monitoring webhooks). Field ``x`` is read from ``SWITCHBOARD_X``; the
registry adds this class to ``config.settings.Settings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from channels.contract import SECRET


class AlertsSettings(BaseSettings):
    alerts_token: str = Field(
        "",
        description="Bearer token monitoring systems send to /alerts/alertmanager and /alerts/generic; empty: no bearer token is accepted (with ALERTS_HMAC_SECRET also empty, the alerts channel is off).",
        json_schema_extra=SECRET,
    )
    alerts_hmac_secret: str = Field(
        "",
        description="Secret for the X-Switchboard-Signature header (sha256= HMAC-SHA256 of the raw body); empty: no signature is accepted.",
        json_schema_extra=SECRET,
    )
    alerts_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest alert notification accepted, in bytes (larger: 413).",
    )
