"""What the Telegram channel remembers: the polling offset, what it sent per outbox
key, and the one-time codes agents link their Telegram account with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, utcnow


class TelegramPoll(Base):
    """The long-polling offset of one bot: the next update_id to ask for.

    Written after the updates before it are committed as inbound records, so a
    restart neither misses an update (the offset moves only past stored ones) nor
    repeats one (an update fetched again is the same record, a duplicate)."""

    __tablename__ = "telegram_polls"

    bot_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TelegramSent(Base):
    """One part of one outbox delivery sent (or being sent) to a chat: a retry skips
    the parts here. A row is removed only when Telegram surely refused the part; one
    left by a crash or a timeout may have reached the chat and is not sent again
    (at most once). The message ids Telegram gave are on the outbox row."""

    __tablename__ = "telegram_sent"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TelegramLinkCode(Base):
    """A one-time code an agent sends the bot (``/link CODE``) to link their Telegram
    account; only an HMAC of the code is kept, and it works once, before ``expires_at``."""

    __tablename__ = "telegram_link_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
