"""What the Slack channel remembers: where each card is and what it posted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, utcnow


class SlackCard(Base):
    """The Block Kit card of one ticket: its channel and message ts.

    ``ts`` is empty while the first post is in flight; the sender that inserted
    the row is the only one that posts it, everyone else updates it.
    """

    __tablename__ = "slack_cards"
    __table_args__ = (Index("ix_slack_cards_channel_ts", "channel", "ts"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlackPost(Base):
    """One message posted for one outbox key: a retry finds it here and does not post again."""

    __tablename__ = "slack_posts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str | None] = mapped_column(String(40))
    thread_ts: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
