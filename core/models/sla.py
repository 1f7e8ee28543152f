"""SLA history and escalations: what the clocks are computed from, and chains in flight."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Choice, UTCDateTime, utcnow


class SlaEvent(Base):
    """One SLA-relevant moment of a ticket (start, respond, pause, resume, resolve,
    reopen, policy), written by the core action that caused it, in its transaction.
    Deadlines are a pure function of the policy, the calendar and these rows."""

    __tablename__ = "sla_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EscalationStatus(StrEnum):
    """Where an escalation chain is: running, or stopped and why."""

    ACTIVE = "active"  # steps still to run: waiting for an acknowledgement
    ACKNOWLEDGED = "acknowledged"  # someone took it; no step runs after this
    FINISHED = "finished"  # the last step ran and the chain does not repeat
    STOPPED = "stopped"  # the ticket was no longer open when a step came due


class Escalation(Base):
    """An escalation chain frozen onto a ticket when it started.

    ``steps`` is a copy of the configured chain (later edits don't change it);
    ``token`` names the one step message allowed to run next: a stale or duplicate
    message finds a different token and does nothing. At most one chain per ticket
    is active (a partial unique index), so two clocks can never start two.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        Index(
            "uq_escalations_active_ticket",
            "ticket_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_escalations_status_next", "status", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    chain: Mapped[str] = mapped_column(String(60))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    repeat: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[EscalationStatus] = mapped_column(
        Choice(EscalationStatus, 20), default=EscalationStatus.ACTIVE
    )
    token: Mapped[str | None] = mapped_column(String(40))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    pings: Mapped[int] = mapped_column(Integer, default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
