"""Logging set-up, one place for every process role: level, format, redaction.

``SWITCHBOARD_LOG_FORMAT=text`` (the default) writes ``time level logger: message``;
``json`` writes one JSON object per line: ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, the ``ticket``, ``channel`` and ``outbox_key`` the line is
about where known (``core.logfields``), and ``exception`` with the traceback.

Both formats pass every line through ``redact``: bearer tokens, API tokens, Slack
tokens, passwords in URLs, tracking, acknowledgement and link tokens in our URLs,
reply-address tokens, Telegram bot tokens, and the literal values of the secret
settings (the secret key, Slack, alerts, WhatsApp, Telegram, relay and IMAP
secrets) never reach the log whole.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from config.settings import Settings
from core import logfields

NOISY = ("pika", "dramatiq", "uvicorn.access", "httpx", "mail.log", "alembic.runtime.plugins")
MARK = "_switchboard_handler"
HIDDEN = "[redacted]"

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), rf"\g<1>{HIDDEN}"),
    (re.compile(r"\bsbt_[A-Za-z0-9_-]+"), f"sbt_{HIDDEN}"),
    (re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+"), rf"\g<1>-{HIDDEN}"),
    (re.compile(r"(?<!\d)(\d{5,}:)[A-Za-z0-9_-]{30,}"), rf"\g<1>{HIDDEN}"),  # Telegram bot token
    (re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.I), rf"\g<1>{HIDDEN}@"),
    (re.compile(r"(/(?:t|e/ack|c/link)/)[A-Za-z0-9._~-]{8,}"), rf"\g<1>{HIDDEN}"),
    (re.compile(r"(\+)[A-Za-z0-9._-]{12,}(@)"), rf"\g<1>{HIDDEN}\g<2>"),
)


class Redactor:
    """Hides tokens by their shape, and the given secrets by their value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short values would hide ordinary words; secrets that short are refused elsewhere.
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        known = logfields.bound()
        for name in logfields.FIELDS:
            value = getattr(record, name, None) or known.get(name)
            if value:
                line[name] = self.redact(str(value))
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["exception"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False)


def setup(
    level: str = "INFO",
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler | None:
    """Configure the root logger: one handler of ours (replacing one set up before),
    in ``fmt`` (``text`` or ``json``), hiding ``secrets``; returns the handler, or
    None when logging was set up by someone else already (a host program, a test
    runner) and no ``stream`` is given: that set-up is kept, as ``basicConfig`` does."""
    root = logging.getLogger()
    if stream is None and any(not getattr(h, MARK, False) for h in root.handlers):
        return None
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    setattr(handler, MARK, True)
    for old in [h for h in root.handlers if getattr(h, MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet(level)
    return handler


def quiet(level: str) -> None:
    """Libraries that chatter at INFO log warnings and worse only. pika logs every
    failed connection attempt as errors with tracebacks (hundreds a minute while
    RabbitMQ is away); the broker's state is told once, by ``core.health``, instead.
    slack_sdk's Web API client logs every failed call as an error before raising it;
    each is raised to Switchboard, which says so once (the token check through
    ``core.health``, a delivery on its outbox row), so those lines are not logged."""
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for repeated in ("pika", "slack_sdk.web"):
        logging.getLogger(repeated).setLevel(logging.CRITICAL)


def configure(settings: Settings) -> logging.Handler | None:
    """Logging as the settings ask: level, format, and every secret setting hidden."""
    return setup(settings.log_level, settings.log_format, settings.secret_values())
