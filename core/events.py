"""The value passed to observers for every ticket change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.models import Ticket, TicketStatus
from core.principals import Principal

# The action of the change an erasure of the client's personal data announces per ticket.
PERSONAL_DATA_ERASED = "personal_data_erased"


@dataclass(frozen=True)
class Change:
    """One applied core action on one ticket."""

    action: str
    ticket: Ticket
    who: Principal
    before: TicketStatus | None  # None: the change opened the ticket
    after: TicketStatus
    fields: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
