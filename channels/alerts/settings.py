"""Settings of the alerts channel (``SWITCHBOARD_ALERTS_*``): who may post alerts."""

from __future__ import annotations

from pydantic import Field

from config.core_settings import CoreSettings, secret


class AlertsSettings(CoreSettings):
    """The core's settings and the alerts channel's: what its code is given."""

    alerts_token: str = secret(
        "Bearer token monitoring systems send to /alerts/alertmanager and /alerts/generic; empty: no bearer token is accepted (with ALERTS_HMAC_SECRET also empty, the alerts channel is off)."
    )
    alerts_hmac_secret: str = secret(
        "Secret for the X-Switchboard-Signature header (sha256= HMAC-SHA256 of the raw body); empty: no signature is accepted."
    )
    alerts_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest alert notification accepted, in bytes (larger: 413).",
    )
