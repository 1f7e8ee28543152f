"""Tickets and what hangs off them: participants, messages, attachments, resolutions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .assets import Asset, Site, WorkOrder
from .base import Base, BigId, Choice, UTCDateTime, utcnow
from .people import Agent, Category, Contact, Identity, Organization, SupportQueue

NUMBER_PREFIX = "T-"


def format_number(number: int) -> str:
    return f"{NUMBER_PREFIX}{number:06d}"


PRIORITIES = ("P1", "P2", "P3", "P4")  # the values of Ticket.priority, most urgent first


class TicketStatus(StrEnum):
    """Where a ticket is in its lifecycle (``core.tickets.lifecycle`` says what leads where)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Ticket(Base):
    """A client's request; its public number is ``T-000123``."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_status_queue", "status", "queue_id"),  # queue depths (/metrics)
        Index("ix_tickets_next_checkpoint", "next_checkpoint_at"),
        Index("ix_tickets_sla_attention", "sla_attention_at"),
        Index("ix_tickets_rule_due", "rule_due_at"),
        Index("ix_tickets_asset", "asset_id", "id"),
        Index("ix_tickets_site", "site_id", "id"),
        Index("ix_tickets_work_order", "work_order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[TicketStatus] = mapped_column(Choice(TicketStatus, 20), default=TicketStatus.NEW)
    priority: Mapped[str] = mapped_column(String(4), default="P3")
    priority_reason: Mapped[str] = mapped_column(String(300), default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # where it came in
    # The identity that opened it (a split of the contact takes the ticket with it) and
    # the one the next reply goes to: the identity of the client's last message on it.
    requester_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    reply_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    hold_reason: Mapped[str | None] = mapped_column(String(30))
    hold_parts_ref: Mapped[str | None] = mapped_column(String(120))
    hold_note: Mapped[str | None] = mapped_column(Text)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # looked at again by then
    # What the ticket is about: records (core.assets), linked when opened or later.
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    location: Mapped[str | None] = mapped_column(String(300))
    # The ticket this one was merged into; indexed: a ticket's thread shows the
    # messages of the tickets merged into it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    linked_from_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # SLA: deadlines are recomputed from the policy and the ticket's history.
    sla_policy: Mapped[str | None] = mapped_column(String(60))
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_checkpoint_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # From this moment on the SLA state is at risk or breached (None: it will not be,
    # as the clocks stand): "at risk" lists are an indexed query, not a scan.
    sla_attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_clock: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the running clocks (core.sla)
    # The desk's workflow rules (core.desk): when the next one is due (the clock claims
    # by it), and since when the ticket is unassigned or on hold, with the rules fired.
    rule_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rule_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact: Mapped[Contact] = relationship(foreign_keys=[contact_id])
    organization: Mapped[Organization | None] = relationship()
    assignee: Mapped[Agent | None] = relationship()
    queue: Mapped[SupportQueue | None] = relationship()
    category: Mapped[Category | None] = relationship()
    reply_identity: Mapped[Identity | None] = relationship(foreign_keys=[reply_identity_id])
    asset: Mapped[Asset | None] = relationship()
    site: Mapped[Site | None] = relationship()
    work_order: Mapped[WorkOrder | None] = relationship()

    @property
    def number(self) -> str:
        return format_number(self.id)


class Participant(Base):
    """A contact taking part in a ticket (requester or copied)."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("ticket_id", "contact_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="requester")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """One entry in a ticket's thread.

    ``kind`` is ``public`` (seen by the client), ``internal`` (a note, never leaves)
    or ``system`` (an automatic event line). ``direction`` is ``in`` or ``out``.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_external", "channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(20))
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # Which of the contact's identities wrote it (its channel and address), for a client's message.
    author_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(998))
    inbound_record_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_records.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id")


class Attachment(Base):
    """A file on a message; the bytes live in the content-addressed store."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[str | None] = mapped_column(String(200))  # why it may be dangerous


class ResolutionRecord(Base):
    """What fixed the ticket. Immutable once written (a reopen adds a new one).

    ``asset_id`` is the machine the ticket was about when it was resolved: the
    resolution belongs to that machine's history from then on.
    """

    __tablename__ = "resolution_records"
    __table_args__ = (Index("ix_resolution_records_asset", "asset_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    steps: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Override(Base):
    """Approval evidence: a lead took an action a rule would have refused."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredBlob(Base):
    """Attachment bytes, stored once per content hash (shared by every process)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PortalSubmission(Base):
    """One sending of the portal form: its idempotency key (a second sending of the
    same form finds the ticket the first one opened) and who sent it, for the hourly
    limits per address and per IP."""

    __tablename__ = "portal_submissions"
    __table_args__ = (
        Index("ix_portal_submissions_email", "email", "created_at"),
        Index("ix_portal_submissions_ip", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    form_key: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class FollowUp(Base):
    """Something a person must look at on a ticket, opened by a desk rule (a hold
    past its limit, a low satisfaction score): for one agent, open until done.

    ``key`` names the condition that opened it; it is unique per ticket, so a
    condition opens one follow-up however often it is seen.
    """

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("ticket_id", "key"),
        Index("ix_follow_ups_agent_status", "agent_id", "status"),
        Index("ix_follow_ups_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(30))  # hold_review, satisfaction
    key: Mapped[str] = mapped_column(String(120))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[FollowUpStatus] = mapped_column(
        Choice(FollowUpStatus, 10), default=FollowUpStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
