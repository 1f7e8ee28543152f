"""Machines and where they stand: sites, assets, work orders, and the alerts raised on them.

Each record has the reference people and monitoring systems use (a site's code, an
asset's tag, a work order's number) and a ``key``: that reference trimmed and in
lower case, unique, so ``press-3`` and ``PRESS-3`` name one machine.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, Choice, UTCDateTime, utcnow


class WorkOrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AlertStatus(StrEnum):
    """An alert's last known state; ``UNKNOWN`` only inside the transaction that first
    meets it (``core.alerts.apply`` claims its row before deciding)."""

    UNKNOWN = ""
    FIRING = "firing"
    RESOLVED = "resolved"


class Site(Base):
    """A place machines stand (a plant, a branch, a customer's premises)."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    code: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Asset(Base):
    """A machine (or any serviced thing), known by its tag."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    tag: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    serial: Mapped[str] = mapped_column(String(120), default="")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    location: Mapped[str] = mapped_column(String(300), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site | None] = relationship()


class WorkOrder(Base):
    """A piece of planned work (usually from the maintenance system), open until closed."""

    __tablename__ = "work_orders"
    __table_args__ = (Index("ix_work_orders_asset_status", "asset_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    number: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[WorkOrderStatus] = mapped_column(
        Choice(WorkOrderStatus, 10), default=WorkOrderStatus.OPEN
    )
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    asset: Mapped[Asset | None] = relationship()
    site: Mapped[Site | None] = relationship()


class Alert(Base):
    """The last known state of one alert from monitoring, by its fingerprint.

    The fingerprint names the alert (Alertmanager's hash of its labels); ``starts_at``
    tells one firing episode from the next. ``ticket_id`` is the ticket the alert
    raised; ``last_record_id`` the newest inbound record that changed this row, so a
    notification decided out of order (an older record) changes nothing.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_asset_status", "asset_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[AlertStatus] = mapped_column(Choice(AlertStatus, 10))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    generator_url: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    last_record_id: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
