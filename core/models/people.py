"""Who writes to support and who answers: organizations, contacts, agents, queues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, UTCDateTime, utcnow


class Organization(Base):
    """A client company, with its contract tier (drives SLA policy choice)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[str] = mapped_column(String(40), default="standard")
    email_domain: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    """A person who writes to support, reachable through one or more identities."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    # Set when this contact was linked into another (its identities and tickets moved
    # there); cleared when a split gives it an identity back. See core.contacts.links.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the client's personal data was erased (core.privacy): the row stays, so
    # the tickets and their KPIs keep a requester, but nothing about the person does.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization | None] = relationship()
    identities: Mapped[list[Identity]] = relationship(
        back_populates="contact", order_by="Identity.id"
    )


class Identity(Base):
    """One address of a contact on one channel: an email address, a chat id, a number."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # email, slack, telegram, whatsapp, web, fake
    address: Mapped[str] = mapped_column(String(320))
    display: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by a permanent bounce: nothing automatic goes to this address until it writes in.
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_reason: Mapped[str | None] = mapped_column(String(500))

    contact: Mapped[Contact] = relationship(back_populates="identities")


class Agent(Base):
    """A member of staff; roles decide which core actions they may take."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["agent"])
    preferences: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Loaded with the agent: every notification looks them up.
    identities: Mapped[list[StaffIdentity]] = relationship(
        back_populates="agent", order_by="StaffIdentity.id", lazy="selectin"
    )

    def address(self, channel: str) -> str | None:
        """The agent's address on a staff channel (their email for ``email``), or None."""
        if channel == "email":
            return self.email
        return next((i.address for i in self.identities if i.channel == channel), None)


class ApiToken(Base):
    """One of an agent's API tokens: only its SHA-256 is kept, with a name and the
    first characters to tell it apart; a revoked token never works again."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))

    agent: Mapped[Agent] = relationship()


class StaffIdentity(Base):
    """An agent's address on one channel (a Slack member id, a Telegram chat id, ...).

    A row per channel, so a new staff channel needs no change to the agents table;
    one agent per (channel, address), so an event from that address names one agent.
    """

    __tablename__ = "staff_identities"
    __table_args__ = (
        UniqueConstraint("channel", "address"),
        UniqueConstraint("agent_id", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agent: Mapped[Agent] = relationship(back_populates="identities")


class SupportQueue(Base):
    """A queue of work (e.g. support, field-service), with its Slack channel."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    slack_channel: Mapped[str | None] = mapped_column(String(40))


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class ResolutionCode(Base):
    __tablename__ = "resolution_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
