"""What the WhatsApp channel remembers: each client number's window, and what it sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, utcnow


class WhatsAppChat(Base):
    """One client number: when they last wrote (WhatsApp's own timestamp).

    The 24-hour customer-service window runs from ``last_client_at``: inside it a
    free-form reply may go, outside it only an approved template.
    """

    __tablename__ = "whatsapp_chats"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_client_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WhatsAppSend(Base):
    """One message sent for one outbox key (a long reply is several: ``key#2``, ...).

    Written before the Graph API call, its ``wamid`` after: a retry finds the wamid
    and does not send again, and a status webhook finds the outbox row by it.
    """

    __tablename__ = "whatsapp_sends"

    key: Mapped[str] = mapped_column(String(220), primary_key=True)
    wamid: Mapped[str | None] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="text")  # text, buttons, template
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
