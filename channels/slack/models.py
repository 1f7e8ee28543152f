"""What the Slack channel remembers: where each card is, what it posted, which events it saw."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, Choice, UTCDateTime, utcnow


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


class SlackEventStatus(StrEnum):
    """Where a stored Slack event is."""

    PENDING = "pending"  # stored, not yet done
    DONE = "done"
    REFUSED = "refused"  # a core action refused it (the user was told why)


class SlackEvent(Base):
    """An event or interaction Slack sent us, stored before we answer.

    The id is Slack's ``event_id`` (or an interaction's trigger id), so a retried
    event finds its row and does nothing twice.
    """

    __tablename__ = "slack_events"
    __table_args__ = (Index("ix_slack_events_status", "status"),)

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[SlackEventStatus] = mapped_column(
        Choice(SlackEventStatus, 10), default=SlackEventStatus.PENDING
    )
    outcome: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
