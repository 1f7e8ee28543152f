"""Settings from the environment (prefix ``SWITCHBOARD_``).

Every setting has a default that gives the embedded deployment: SQLite under the
data directory, Dramatiq on an in-process broker, HTTP and SMTP on loopback.
A wrong value fails at start with a message naming the variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ENV_PREFIX = "SWITCHBOARD_"


class Settings(BaseSettings):
    """All runtime settings. Field ``x`` is read from ``SWITCHBOARD_X``."""

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
    secret_key: str = Field(
        "",
        description="Signs reply tokens and links. Empty: generated once into DATA_DIR/secret_key (embedded only).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL clients reach the web pages at (tracking links).",
    )
    http_host: str = Field("127.0.0.1", description="Address the web app listens on.")
    http_port: int = Field(8000, ge=1, le=65535, description="Port the web app listens on.")
    smtp_host: str = Field("127.0.0.1", description="Address the SMTP intake server listens on.")
    smtp_port: int = Field(
        2525, ge=1, le=65535, description="Port the SMTP intake server listens on."
    )
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
    fake_outbox: Path | None = Field(
        None,
        description="File the fake channel appends deliveries to; empty: DATA_DIR/fake-outbox.jsonl.",
    )
    # Email ---------------------------------------------------------------------
    support_addresses: str = Field(
        "support@localhost",
        description="Comma-separated addresses the SMTP server accepts mail for; support+TOKEN@ reply addresses are derived from the first.",
    )
    smtp_max_message_bytes: int = Field(
        30 * 1024 * 1024,
        ge=1024,
        description="Largest message the SMTP server accepts (larger: 552).",
    )
    smtp_tls_cert: Path | None = Field(
        None, description="PEM certificate for STARTTLS on the SMTP server; empty: no STARTTLS."
    )
    smtp_tls_key: Path | None = Field(None, description="PEM private key for SMTP_TLS_CERT.")
    mail_from: str = Field(
        "", description="From address of outbound mail; empty: the first support address."
    )
    mail_relay_host: str = Field(
        "",
        description="SMTP relay for outbound mail; empty: mail is written to the maildir instead.",
    )
    mail_relay_port: int = Field(587, ge=1, le=65535, description="Port of the SMTP relay.")
    mail_relay_security: str = Field(
        "starttls",
        pattern=r"^(starttls|tls|none)$",
        description="starttls, tls (implicit TLS, usually port 465) or none.",
    )
    mail_relay_user: str = Field("", description="Login for the SMTP relay; empty: no login.")
    mail_relay_password: str = Field("", description="Password for MAIL_RELAY_USER.")
    maildir: Path | None = Field(
        None,
        description="Maildir outbound mail is written to when no relay is set; empty: DATA_DIR/maildir.",
    )
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
    imap_host: str = Field(
        "", description="IMAP server to poll for support mail; empty: no IMAP poller."
    )
    imap_port: int = Field(993, ge=1, le=65535, description="IMAP port.")
    imap_security: str = Field(
        "tls",
        pattern=r"^(tls|starttls|none)$",
        description="tls (implicit, port 993), starttls or none.",
    )
    imap_user: str = Field("", description="IMAP login.")
    imap_password: str = Field("", description="IMAP password.")
    imap_mailboxes: str = Field("INBOX", description="Comma-separated mailboxes to poll.")
    imap_move_to: str = Field(
        "", description="Folder to move processed mail to; empty: mark it seen and leave it."
    )
    imap_poll_seconds: float = Field(
        30.0,
        gt=0,
        description="Polling interval when the server has no IDLE (and the IDLE timeout otherwise).",
    )
    slack_bot_token: str = Field(
        "", description="Slack bot token (xoxb-...); empty: the Slack channel is off."
    )
    slack_signing_secret: str = Field(
        "",
        description="Slack signing secret: every request to /slack/events is checked against it.",
    )
    slack_socket_mode: bool = Field(
        False,
        description="Connect to Slack over Socket Mode instead of receiving HTTP requests (no public URL needed).",
    )
    slack_app_token: str = Field(
        "", description="Slack app-level token (xapp-...) for Socket Mode."
    )
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

    # Telegram --------------------------------------------------------------------
    telegram_bot_token: str = Field(
        "",
        description="Telegram bot token from BotFather (123456:ABC-...); empty: the Telegram channel is off.",
    )
    telegram_webhook_secret: str = Field(
        "",
        description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with every webhook request (1-256 of A-Z a-z 0-9 _ -); empty: derived from SWITCHBOARD_SECRET_KEY.",
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

    # WhatsApp (Meta Cloud API) ---------------------------------------------------------
    whatsapp_token: str = Field(
        "",
        description="WhatsApp Cloud API access token (a system user's permanent token); empty: the WhatsApp channel is off.",
    )
    whatsapp_app_secret: str = Field(
        "",
        description="The Meta app's secret: every POST to /whatsapp/webhook must carry its X-Hub-Signature-256 (required with WHATSAPP_TOKEN).",
    )
    whatsapp_verify_token: str = Field(
        "",
        description="The verify token typed into the app's webhook settings; GET /whatsapp/webhook answers hub.challenge only for it (required with WHATSAPP_TOKEN).",
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

    # Alerts ----------------------------------------------------------------------
    alerts_token: str = Field(
        "",
        description="Bearer token monitoring systems send to /alerts/alertmanager and /alerts/generic; empty: no bearer token is accepted (with ALERTS_HMAC_SECRET also empty, the alerts channel is off).",
    )
    alerts_hmac_secret: str = Field(
        "",
        description="Secret for the X-Switchboard-Signature header (sha256= HMAC-SHA256 of the raw body); empty: no signature is accepted.",
    )
    alerts_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest alert notification accepted, in bytes (larger: 413).",
    )

    @field_validator("telegram_mode")
    @classmethod
    def _known_telegram_mode(cls, value: str) -> str:
        if value not in ("auto", "webhook", "polling"):
            raise ValueError("must be auto, webhook or polling")
        return value

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

    @property
    def support_address_list(self) -> list[str]:
        return [a.strip().lower() for a in self.support_addresses.split(",") if a.strip()]

    @property
    def maildir_path(self) -> Path:
        return self.maildir or self.data_dir / "maildir"

    @property
    def fake_outbox_path(self) -> Path:
        return self.fake_outbox or self.data_dir / "fake-outbox.jsonl"

    def secret_values(self) -> list[str]:
        """The values of the secret settings, to keep out of the logs."""
        values = [
            self.secret_key,
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.alerts_token,
            self.alerts_hmac_secret,
            self.whatsapp_token,
            self.whatsapp_app_secret,
            self.whatsapp_verify_token,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.mail_relay_password,
            self.imap_password,
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


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for the README and --help."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        rows.append(
            (
                ENV_PREFIX + name.upper(),
                "" if default is None else str(default),
                field.description or "",
            )
        )
    return rows
