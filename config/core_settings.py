"""The core's settings (``CoreSettings``), the base of every channel's settings class.

Every setting has a default that gives the embedded deployment: SQLite under the
data directory, Dramatiq on an in-process broker, HTTP and SMTP on loopback.
Field ``x`` is read from ``SWITCHBOARD_X``. This module imports no channel, so the
channels can build on it; ``config.settings`` joins the channels' classes.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic.json_schema import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ENV_PREFIX = "SWITCHBOARD_"

SECRET: JsonDict = {"secret": True}
"""``json_schema_extra`` of a setting whose value is kept out of the logs."""


def secret(description: str) -> Any:
    """A secret setting: text, empty unless set, its value kept out of the logs."""
    return Field("", description=description, json_schema_extra=SECRET)


class CoreSettings(BaseSettings):
    """The core's settings, and how every setting is read (``SWITCHBOARD_`` + its
    name). Each channel's settings class extends this one (its package's
    ``settings.py``), so the channel's code sees its own settings and the core's;
    ``config.settings.Settings`` joins them all."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Where the embedded database, maildir, attachments and keys live."
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means SQLite in WAL mode at DATA_DIR/switchboard.db."
    )
    broker_url: str = Field(
        "memory://",
        description="memory:// (in-process), redis://HOST:PORT/DB or amqp://USER:PASS@HOST:PORT/VHOST.",
    )
    broker_queue: str = Field(
        "switchboard",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Queue name on the broker (lets deployments share one broker).",
    )
    secret_key: str = secret(
        "Signs reply tokens and links. Empty: generated once into DATA_DIR/secret_key (embedded only)."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL clients reach the web pages at (tracking links).",
    )
    http_host: str = Field("127.0.0.1", description="Address the web app listens on.")
    http_port: int = Field(8000, ge=1, le=65535, description="Port the web app listens on.")
    config_file: Path | None = Field(
        None,
        description="TOML file with priority/queue rules and policies; defaults ship in config/defaults.toml.",
    )
    templates_dir: Path | None = Field(
        None, description="Directory whose templates override the shipped ones, file by file."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field(
        "text",
        pattern=r"^(text|json)$",
        description="text (one readable line per event) or json (one object per line: time, level, logger, message, and ticket, channel and outbox_key where known); secrets are redacted in both.",
    )
    worker_threads: int = Field(
        4, ge=1, le=64, description="Dramatiq worker threads per worker process."
    )
    delivery_max_attempts: int = Field(
        8, ge=1, le=100, description="Attempts per outbox delivery before it is parked."
    )
    delivery_backoff_seconds: float = Field(
        2.0, gt=0, description="First retry delay; doubles per attempt (capped at 15 minutes)."
    )
    delivery_outage_hours: float = Field(
        24.0,
        gt=0,
        description=(
            "While a channel's platform is unreachable, failing or rate limiting, its "
            "deliveries are retried (at least every 5 minutes) for this long before parked."
        ),
    )
    max_attachment_bytes: int = Field(
        25 * 1024 * 1024, ge=1, description="Largest attachment kept, in bytes."
    )
    idempotency_key_hours: float = Field(
        24.0,
        gt=0,
        description="How long the JSON API remembers an Idempotency-Key and its answer; expired keys are removed by the clock.",
    )
    max_attachments: int = Field(50, ge=0, description="Most attachments kept per message.")
    max_request_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest web request body (API JSON, forms, webhooks), in bytes (larger: 413).",
    )
    public_requests_per_minute: int = Field(
        120,
        ge=0,
        description="Requests a minute one address may make to the pages reached without "
        "signing in (tracking links, files, contact and escalation links, the portal); "
        "over it: 429. 0: no limit.",
    )
    max_upload_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest web form carrying files (multipart), in bytes (larger: 413).",
    )
    clock_interval_seconds: float = Field(5.0, gt=0, description="How often the clock role ticks.")
    redelivery_after_seconds: float = Field(
        60.0, gt=0, description="Pending work older than this is sent to the broker again."
    )
    # Email ---------------------------------------------------------------------
    auto_reply_limit_per_hour: int = Field(
        5,
        ge=0,
        description="Most automatic messages (acknowledgements, notices) one recipient gets per hour; more are skipped and audited.",
    )
    tracking_link_days: int = Field(
        180,
        ge=1,
        description="How many days a tracking link works after it was sent; an older one shows the link-not-valid page.",
    )
    portal_per_address_per_hour: int = Field(
        5, ge=1, description="Most tickets the portal form opens per email address per hour."
    )
    portal_per_ip_per_hour: int = Field(
        20, ge=1, description="Most tickets the portal form opens per client IP address per hour."
    )
    machine_answer_seconds: float = Field(
        20.0,
        ge=0,
        description="A message answering our automatic one faster than this gets no "
        "acknowledgement, and a sender who does it twice in a row is parked as an "
        "autoresponder (0: off).",
    )

    # Telegram --------------------------------------------------------------------

    # WhatsApp (Meta Cloud API) ---------------------------------------------------------

    # Alerts ----------------------------------------------------------------------

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if not value.startswith(
            ("memory://", "stub://", "redis://", "rediss://", "amqp://", "amqps://")
        ):
            raise ValueError("must start with memory://, redis:// or amqp://")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    # Derived values -------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'switchboard.db').resolve()}"

    @property
    def embedded(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def secret_values(self) -> list[str]:
        """The values of the secret settings, to keep out of the logs."""
        values = [
            str(getattr(self, name))
            for name, field in type(self).model_fields.items()
            if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
        ]
        key_file = self.data_dir / "secret_key"
        if not self.secret_key and key_file.is_file():
            values.append(key_file.read_text().strip())
        return [v for v in values if v]

    def signing_key(self) -> bytes:
        """Return the secret key, creating a persistent one for the embedded mode."""
        if self.secret_key:
            return self.secret_key.encode()
        if not self.embedded:
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY is required when {ENV_PREFIX}DATABASE_URL points at a shared "
                "database: every process must sign and check tokens with the same key"
            )
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()
