"""Typed SQLAlchemy models. Import from here: ``from core.models import Ticket``."""

from .base import MAX_ID, Base, BigId, UTCDateTime, as_id, utcnow
from .contacts import ContactLink, LinkCode
from .people import (
    Agent,
    Category,
    Contact,
    Identity,
    Organization,
    ResolutionCode,
    StaffIdentity,
    SupportQueue,
)
from .records import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    InboundRecord,
    KnownAddress,
    LiveProcess,
    MailboxState,
    OutboxDelivery,
)
from .sla import Escalation, SlaEvent
from .tickets import (
    Attachment,
    Message,
    Override,
    Participant,
    ResolutionRecord,
    StoredBlob,
    Ticket,
    format_number,
)

__all__ = [
    "MAX_ID",
    "as_id",
    "Agent",
    "Attachment",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "BigId",
    "Category",
    "Contact",
    "ContactLink",
    "Escalation",
    "Identity",
    "InboundRecord",
    "KnownAddress",
    "LinkCode",
    "LiveProcess",
    "MailboxState",
    "Message",
    "Organization",
    "OutboxDelivery",
    "Override",
    "Participant",
    "ResolutionCode",
    "ResolutionRecord",
    "SlaEvent",
    "StaffIdentity",
    "StoredBlob",
    "SupportQueue",
    "Ticket",
    "UTCDateTime",
    "format_number",
    "utcnow",
]
