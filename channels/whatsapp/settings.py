"""Settings of the WhatsApp channel, on Meta's Cloud API (``SWITCHBOARD_WHATSAPP_*``)."""

from __future__ import annotations

from pydantic import Field

from config.core_settings import CoreSettings, secret


class WhatsAppSettings(CoreSettings):
    """The core's settings and the WhatsApp channel's: what its code is given."""

    whatsapp_token: str = secret(
        "WhatsApp Cloud API access token (a system user's permanent token); empty: the WhatsApp channel is off."
    )
    whatsapp_app_secret: str = secret(
        "The Meta app's secret: every POST to /whatsapp/webhook must carry its X-Hub-Signature-256 (required with WHATSAPP_TOKEN)."
    )
    whatsapp_verify_token: str = secret(
        "The verify token typed into the app's webhook settings; GET /whatsapp/webhook answers hub.challenge only for it (required with WHATSAPP_TOKEN)."
    )
    whatsapp_phone_number_id: str = Field(
        "",
        description="The business phone number's id (not the number): replies are sent from it, and webhooks for other numbers are not stored (required with WHATSAPP_TOKEN).",
    )
    whatsapp_api_url: str = Field(
        "https://graph.facebook.com", description="Graph API base URL (a loopback fake in tests)."
    )
    whatsapp_api_version: str = Field(
        "v23.0", pattern=r"^v\d+\.\d+$", description="Graph API version in every call's path."
    )
    whatsapp_template: str = Field(
        "",
        description="Name of the approved message template sent when the 24-hour window is closed (body parameters: ticket number, tracking link); empty: such replies fail, saying so.",
    )
    whatsapp_template_language: str = Field(
        "en_US", description="Language code of that template, as approved."
    )
    whatsapp_max_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest webhook body accepted, in bytes (larger: 413).",
    )
