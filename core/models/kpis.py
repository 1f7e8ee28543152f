"""What the KPIs are read from: one row of facts per ticket, kept by every change, and
the client's satisfaction answers (one per resolution)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class TicketFacts(Base):
    """A ticket's history folded into the figures a lead reads (``core.kpis``).

    Written in the transaction of every change (``core.tickets.change.apply``) and of
    every satisfaction answer, so a KPI query reads one narrow row per ticket instead
    of its events. ``response_sla`` and ``resolution_sla`` are the state of the
    ticket's SLA clocks as of its last change, as ``report sla`` counts them: ``met``,
    ``breached``, or None while running (then ``*_due_at`` is the deadline, and a
    report read after it counts the clock breached) or paused.
    """

    __tablename__ = "ticket_facts"
    __table_args__ = (Index("ix_ticket_facts_opened", "opened_at"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    priority: Mapped[str] = mapped_column(String(4))
    queue_id: Mapped[int | None] = mapped_column(Integer)
    category_id: Mapped[int | None] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_sla: Mapped[str | None] = mapped_column(String(10))
    resolution_sla: Mapped[str | None] = mapped_column(String(10))
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int | None] = mapped_column(Integer)
    fixed: Mapped[bool | None] = mapped_column(Boolean)


class SatisfactionAnswer(Base):
    """The client's answer to "Is it fixed?" and the 1-5 rating, for one resolution.

    One row per resolution record; answering again changes it (audited as
    ``satisfaction_changed`` with what it was), ``changes`` counts how often.
    """

    __tablename__ = "satisfaction_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    resolution_id: Mapped[int] = mapped_column(ForeignKey("resolution_records.id"), unique=True)
    fixed: Mapped[bool | None] = mapped_column(Boolean)
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20), default="web")
    changes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
