"""The durable records around the core: raw inbound, outbox deliveries, audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Choice, UTCDateTime, utcnow


class InboundStatus(StrEnum):
    """Where a stored inbound payload is: see ``InboundRecord``."""

    PENDING = "pending"
    DONE = "done"
    DROPPED = "dropped"
    PARKED = "parked"


class InboundRecord(Base):
    """A raw inbound payload, committed before anything else can fail.

    ``status``: ``pending`` (stored, not yet decided), ``done`` (appended/opened),
    ``dropped`` (duplicate), ``parked`` (kept for a human, with ``reason``).
    ``(channel, external_id)`` is unique: the same message twice is one record.
    ``written_key``, where the channel gives one, is a second key of the same payload
    taken from what its author wrote rather than from how it travelled (for email,
    a digest of the sender's headers and body): unique per channel too, so a copy
    that reached us under another external id is still the same record. NULL when
    the channel has none (NULLs never conflict).
    """

    __tablename__ = "inbound_records"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("uq_inbound_records_channel_written_key", "channel", "written_key", unique=True),
        Index("ix_inbound_records_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    transport: Mapped[str] = mapped_column(String(20), default="")  # smtp, imap, api, ...
    external_id: Mapped[str] = mapped_column(String(998))
    written_key: Mapped[str | None] = mapped_column(String(80))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[InboundStatus] = mapped_column(
        Choice(InboundStatus, 10), default=InboundStatus.PENDING
    )
    outcome: Mapped[str | None] = mapped_column(String(20))
    rules_fired: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    message_id: Mapped[int | None] = mapped_column(BigId)  # messages point back here by FK
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryStatus(StrEnum):
    """Where an outbox row is: see ``OutboxDelivery``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    PARKED = "parked"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


class OutboxDelivery(Base):
    """One side effect to perform, committed with the change that caused it.

    ``status``: ``pending`` -> ``sending`` -> ``sent``; a failed attempt goes back
    to ``pending`` with ``next_attempt_at``; ``failed`` is a permanent refusal by the
    channel; ``parked`` means attempts ran out (visible, retryable); ``bounced`` is set
    by a later bounce report, whose findings ``report`` keeps (which recipients failed,
    permanently or not; a delay warning is kept there too, without changing the
    status). ``key`` is the idempotency key every send carries.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "channel", "recipient", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(30))  # ack, reply, notify, card, ...
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(
        Choice(DeliveryStatus, 10), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(998))
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))  # a LiveProcess id
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class KnownAddress(Base):
    """Someone a ticket's conversation reached: in To/Cc of a message in it, or sent to.

    A reply from a known address joins the ticket like a participant's; anyone
    else pointing at the ticket gets a new, linked one.
    """

    __tablename__ = "ticket_addresses"
    __table_args__ = (UniqueConstraint("ticket_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveProcess(Base):
    """A running Switchboard process, seen every few seconds while it lives.

    Work a process claims (an outbox row being sent) names it; once it has not
    been seen for a while it is dead, and its claims go back to the others at
    once instead of waiting for a lease of minutes.
    """

    __tablename__ = "live_processes"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailboxState(Base):
    """Where an IMAP poller is in one mailbox, and who holds it.

    ``uidvalidity`` and ``last_uid`` let a restart continue exactly where the last
    run stopped; a changed UIDVALIDITY means the server renumbered, so the poller
    starts over (duplicates are then caught by the inbound unique key).
    ``lease_owner`` / ``lease_until`` make one poller per mailbox at a time.
    """

    __tablename__ = "mailbox_states"
    __table_args__ = (UniqueConstraint("account", "mailbox"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account: Mapped[str] = mapped_column(String(320))
    mailbox: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """An append-only, hash-chained record of one change.

    Each chain (``ticket:123``, ``system``) numbers its events from 1; an event's
    ``hash`` covers its content and the previous event's hash. The database refuses
    updates and deletes (triggers), and ``switchboard audit verify`` recomputes all.

    Since migration ``0018_privacy`` the hash covers a salted digest of ``data``
    (``salt`` is kept beside it) instead of ``data`` itself, so a client's personal
    data can be erased (``core.audit.erase``): ``data`` is emptied, ``salt`` dropped,
    the digest kept in ``data_digest`` and ``erased_at``/``erased_by`` set, and the
    hash still verifies. That update is the only one the triggers let through.
    Events written before carry no salt; their hash covers ``data`` as before.
    """

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(BigId, index=True)  # no FK: outlives anything
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str | None] = mapped_column(String(32))
    data_digest: Mapped[str | None] = mapped_column(String(64))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_by: Mapped[str | None] = mapped_column(String(120))


class AuditChainHead(Base):
    """The newest event of each chain (seq and hash), updated with every append.

    Appends lock this row, so one chain never forks; checkpoints copy all heads.
    """

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A periodic, chained snapshot of every chain's head: a deleted chain is noticed."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    heads: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class IdempotentRequest(Base):
    """A write to the JSON API made under an ``Idempotency-Key``, and its answer.

    ``(caller, key)`` is unique: two processes given the same key at once both try
    to insert the row, and only the one that did runs the request. ``caller`` is
    the SHA-256 of the bearer token; ``fingerprint`` that of the method, path and
    body, so the same key with another request is told apart. ``state`` is
    ``running`` (``process_id`` is working on it) until the answer (``status_code``,
    ``body``, ``content_type``) is stored and it is ``done``. Rows are removed once
    ``expires_at`` has passed.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    caller: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(10), default="running")
    process_id: Mapped[str] = mapped_column(String(80), default="")
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    content_type: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
