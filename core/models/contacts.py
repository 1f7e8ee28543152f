"""One client across channels: how contacts were joined or split, and the one-time
codes a client answers to prove an address on another channel is theirs too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class ContactLink(Base):
    """One change of who is who: a ``link`` moved every identity of ``other_contact``
    into ``contact``; a ``split`` moved one identity of ``contact`` out to
    ``other_contact``. The contact's history; the audit records each one too.

    ``evidence`` says why we believe it: ``agent`` (an agent's judgement),
    ``client_code`` or ``client_link`` (the client answered a code sent to the other
    address).
    """

    __tablename__ = "contact_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action: Mapped[str] = mapped_column(String(10))  # link, split
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    other_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    identity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    evidence: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkCode(Base):
    """A one-time code sent to an address a client says is theirs too.

    Answering it from there (the code sent back, or the signed link opened) links
    the address to ``contact_id``. Only a hash of the code is kept; a code works
    once, until ``expires_at``, and is burnt after too many wrong answers.
    """

    __tablename__ = "contact_link_codes"
    __table_args__ = (Index("ix_contact_link_codes_target", "kind", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))  # who asked
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))  # asked from its page
    kind: Mapped[str] = mapped_column(String(20))  # the address to prove: channel ...
    address: Mapped[str] = mapped_column(String(320))  # ... and address there
    code_hash: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))  # linked, burnt, replaced, capped
