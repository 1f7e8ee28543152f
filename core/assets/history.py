"""Read models of machines: a record as a dict, and a machine's whole story.

``machine`` is what ``GET /api/assets/{id}`` and ``switchboard assets show`` print
and, with a small ``limit``, what every ticket about the machine shows its agent
(``core.tickets.context``): the asset and its site, how many tickets it had and has
open, its latest tickets, its resolutions (code and steps, newest first), its open
work orders and the alerts firing on it now. Each part is one indexed query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session

from core import filters
from core.assets import records
from core.assets.records import key_of
from core.context import Context
from core.models import (
    Agent,
    Alert,
    AlertStatus,
    Asset,
    ResolutionRecord,
    Site,
    Ticket,
    WorkOrder,
    WorkOrderStatus,
)
from core.models.tickets import format_number
from core.tickets.lifecycle import OPEN_STATES
from core.tickets.views import fields_of, iso


def site_dict(site: Site) -> dict[str, Any]:
    return fields_of(site, "id", "code", "name", "address", "created_at", "updated_at")


def asset_dict(asset: Asset) -> dict[str, Any]:
    return {
        **fields_of(asset, "id", "tag", "name", "model", "serial"),
        "site": asset.site.code if asset.site else None,
        "location": asset.location,
        "attributes": asset.attributes or {},
        **fields_of(asset, "created_at", "updated_at"),
    }


def work_order_dict(order: WorkOrder) -> dict[str, Any]:
    return {
        **fields_of(order, "id", "number", "title", "status"),
        "asset": order.asset.tag if order.asset else None,
        "site": order.site.code if order.site else None,
        **fields_of(order, "created_at", "closed_at"),
    }


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "name": alert.name,
        "status": alert.status,
        "source": alert.source,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generator_url,
        "starts_at": iso(alert.starts_at),
        "ends_at": iso(alert.ends_at),
        "ticket": format_number(alert.ticket_id) if alert.ticket_id else None,
    }


# A machine's story is read on every ticket shown: its statements are built once.
_ASSET, _LIMIT = bindparam("asset_id", type_=Integer), bindparam("limit", type_=Integer)
_TICKETS = (
    select(
        Ticket.id,
        Ticket.subject,
        Ticket.status,
        Ticket.priority,
        Ticket.created_at,
        Ticket.resolved_at,
        # the counts over all of them, in the same statement
        func.count().over().label("total"),
        func.count().filter(Ticket.status.in_(OPEN_STATES)).over().label("still_open"),
    )
    .where(Ticket.asset_id == _ASSET)
    .order_by(Ticket.id.desc())
    .limit(_LIMIT)
)
_RESOLUTIONS = (
    select(
        ResolutionRecord.ticket_id,
        ResolutionRecord.code,
        ResolutionRecord.steps,
        ResolutionRecord.created_at,
        Ticket.subject,
        Agent.name.label("agent"),
    )
    .join(Ticket, Ticket.id == ResolutionRecord.ticket_id)
    .outerjoin(Agent, Agent.id == ResolutionRecord.agent_id)
    .where(ResolutionRecord.asset_id == _ASSET)
    .order_by(ResolutionRecord.id.desc())
    .limit(_LIMIT)
)
_WORK_ORDERS = (
    select(WorkOrder)
    .where(WorkOrder.asset_id == _ASSET, WorkOrder.status == WorkOrderStatus.OPEN)
    .order_by(WorkOrder.id.desc())
    .limit(_LIMIT)
)
_ALERTS = (
    select(Alert)
    .where(Alert.asset_id == _ASSET, Alert.status == AlertStatus.FIRING)
    .order_by(Alert.starts_at.desc(), Alert.id.desc())
    .limit(_LIMIT)
)


def machine(session: Session, asset: Asset, *, limit: int = 50) -> dict[str, Any]:
    """The machine's story: the ``limit`` latest tickets and resolutions, open work
    orders and firing alerts, with counts of all its tickets and the open ones."""
    given = {"asset_id": asset.id, "limit": limit}
    rows = session.execute(_TICKETS, given).all()
    return {
        **asset_dict(asset),
        "site_detail": site_dict(asset.site) if asset.site else None,
        "tickets_total": rows[0].total if rows else 0,
        "tickets_open": rows[0].still_open if rows else 0,
        "tickets": [
            {
                "number": format_number(row.id),
                "subject": row.subject,
                "status": row.status,
                "priority": row.priority,
                "created_at": iso(row.created_at),
                "resolved_at": iso(row.resolved_at),
            }
            for row in rows
        ],
        "resolutions": [
            {
                "ticket": format_number(row.ticket_id),
                "subject": row.subject,
                "code": row.code,
                "steps": row.steps,
                "agent": row.agent,
                "at": iso(row.created_at),
            }
            for row in session.execute(_RESOLUTIONS, given)
        ],
        "work_orders": [work_order_dict(w) for w in session.execute(_WORK_ORDERS, given).scalars()],
        "alerts": [alert_dict(a) for a in session.execute(_ALERTS, given).scalars()],
    }


def listing(
    session: Session,
    kind: type[Asset] | type[Site] | type[WorkOrder],
    *,
    site: str | None = None,
    asset: str | None = None,
    status: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Records of one kind, newest first, filtered by site, asset, status or a search."""
    stmt = select(kind)
    site = filters.given("site", site, "a site code")
    asset = filters.given("asset", asset, "an asset tag")
    statuses = filters.choices("status", status, [s.value for s in WorkOrderStatus])
    if site and kind is not Site:
        stmt = stmt.where(kind.site_id.in_(select(Site.id).where(Site.key == key_of(site))))  # type: ignore[union-attr]
    if asset and kind is WorkOrder:
        stmt = stmt.where(
            WorkOrder.asset_id.in_(select(Asset.id).where(Asset.key == key_of(asset)))
        )
    if statuses and kind is WorkOrder:
        stmt = stmt.where(WorkOrder.status.in_(statuses))
    if query:
        like = f"%{query.lower()}%"
        names = {Asset: Asset.name, Site: Site.name, WorkOrder: WorkOrder.title}
        stmt = stmt.where(or_(kind.key.like(like), func.lower(names[kind]).like(like)))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(kind.id.desc()).limit(limit).offset(offset)).scalars()
    show = {Asset: asset_dict, Site: site_dict, WorkOrder: work_order_dict}[kind]
    return {"total": total, "items": [show(r) for r in rows]}  # type: ignore[operator]


def _tickets(session: Session, column: Any, row_id: int, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "number": format_number(r.id),
            "subject": r.subject,
            "status": r.status,
            "priority": r.priority,
            "created_at": iso(r.created_at),
        }
        for r in session.execute(
            select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at)
            .where(column == row_id)
            .order_by(Ticket.id.desc())
            .limit(limit)
        )
    ]


def site_view(session: Session, site: Site, *, limit: int = 50) -> dict[str, Any]:
    """A site with its machines and its latest tickets."""
    return {
        **site_dict(site),
        "assets": listing(session, Asset, site=site.code, limit=limit),
        "tickets": _tickets(session, Ticket.site_id, site.id, limit),
    }


def work_order_view(session: Session, order: WorkOrder, *, limit: int = 50) -> dict[str, Any]:
    """A work order with the tickets linked to it."""
    return {
        **work_order_dict(order),
        "tickets": _tickets(session, Ticket.work_order_id, order.id, limit),
    }


VIEWS: dict[str, Callable[..., dict[str, Any]]] = {
    "asset": machine,
    "site": site_view,
    "work_order": work_order_view,
}


def view(session: Session, kind: str, row: Any, *, limit: int = 50) -> dict[str, Any]:
    """A record of ``kind`` as its ``GET`` shows it (a machine: its whole story)."""
    return VIEWS[kind](session, row, limit=limit)


def save_and_view(
    ctx: Context,
    actor: str,
    kind: records.Kind,
    ref: str,
    fields: Mapping[str, Any],
    *,
    create: bool,
) -> dict[str, Any]:
    """Create or update the record (an update finds it by reference or id and saves it
    under its reference), then show it as its ``GET`` does."""
    with ctx.db.transaction() as session:
        if not create:
            ref = getattr(records.get(session, kind.model, ref), kind.ref)
        row_id = records.save(ctx, session, actor, kind.name, ref, fields, create=create).id
    with ctx.db.reading() as session:
        return view(session, kind.name, session.get(kind.model, row_id))
