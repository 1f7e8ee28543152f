"""Settings of the email channel: the SMTP intake server, outbound mail (a relay or
the maildir) and the IMAP poller (``SWITCHBOARD_SMTP_*``, ``MAIL_*``, ``IMAP_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from config.core_settings import CoreSettings, secret


class EmailSettings(CoreSettings):
    """The core's settings and the email channel's: what its code is given."""

    smtp_host: str = Field("127.0.0.1", description="Address the SMTP intake server listens on.")
    smtp_port: int = Field(
        2525, ge=1, le=65535, description="Port the SMTP intake server listens on."
    )
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
    mail_relay_password: str = secret("Password for MAIL_RELAY_USER.")
    maildir: Path | None = Field(
        None,
        description="Maildir outbound mail is written to when no relay is set; empty: DATA_DIR/maildir.",
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
    imap_password: str = secret("IMAP password.")
    imap_mailboxes: str = Field("INBOX", description="Comma-separated mailboxes to poll.")
    imap_move_to: str = Field(
        "", description="Folder to move processed mail to; empty: mark it seen and leave it."
    )
    imap_poll_seconds: float = Field(
        30.0,
        gt=0,
        description="Polling interval when the server has no IDLE (and the IDLE timeout otherwise).",
    )

    @property
    def support_address_list(self) -> list[str]:
        return [a.strip().lower() for a in self.support_addresses.split(",") if a.strip()]

    @property
    def maildir_path(self) -> Path:
        return self.maildir or self.data_dir / "maildir"
