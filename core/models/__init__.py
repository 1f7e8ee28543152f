"""Typed SQLAlchemy models. Import from here: ``from core.models import Ticket``."""

from .base import Base, BigId, Choice, UTCDateTime, utcnow
from .people import Agent, Category, Contact, Identity, Organization, ResolutionCode, SupportQueue
from .records import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    DeliveryStatus,
    InboundRecord,
    InboundStatus,
    MailboxState,
    OutboxDelivery,
)
from .sla import Escalation, EscalationStatus, SlaEvent
from .tickets import (
    Attachment,
    Message,
    Override,
    Participant,
    ResolutionRecord,
    StoredBlob,
    Ticket,
    TicketStatus,
    format_number,
)

__all__ = [
    "Agent",
    "Attachment",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "BigId",
    "Category",
    "Choice",
    "Contact",
    "DeliveryStatus",
    "Escalation",
    "EscalationStatus",
    "Identity",
    "InboundRecord",
    "InboundStatus",
    "MailboxState",
    "Message",
    "Organization",
    "OutboxDelivery",
    "Override",
    "Participant",
    "ResolutionCode",
    "ResolutionRecord",
    "SlaEvent",
    "StoredBlob",
    "SupportQueue",
    "Ticket",
    "TicketStatus",
    "UTCDateTime",
    "format_number",
    "utcnow",
]
