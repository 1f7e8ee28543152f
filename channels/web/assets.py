"""The JSON API for machines, sites and work orders, under /api.

- ``GET /api/assets?site=&q=``, ``POST /api/assets``, ``GET|PATCH /api/assets/{tag}``
- ``GET /api/sites?q=``, ``POST /api/sites``, ``GET|PATCH /api/sites/{code}``
- ``GET /api/work-orders?status=&asset=&site=&q=``, ``POST /api/work-orders``,
  ``GET|PATCH /api/work-orders/{number}``

A record is named by its reference (matched without regard to case) or its numeric
id. ``GET /api/assets/{tag}`` is the machine's story: its tickets, resolutions (code
and steps), open work orders and the alerts firing on it now. Creating one that
exists is a 409 (``asset.exists``); every change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from channels.web.api import CtxDep, WhoDep
from channels.web.schemas import (
    AssetBody,
    NewAsset,
    NewSite,
    NewWorkOrder,
    SiteBody,
    WorkOrderBody,
)
from core.assets import history, records
from core.context import Context
from core.models import Asset, Site, WorkOrder
from core.principals import Principal

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]  # larger: 422, not an overflow


def _save(
    ctx: Context, who: Principal, kind: records.Kind, ref: str, body: BaseModel, *, create: bool
) -> dict[str, Any]:
    """Create or update the record, then show it as its ``GET`` does."""
    fields = body.model_dump(exclude_unset=True, exclude={kind.ref})
    return history.save_and_view(ctx, who.label, kind, ref, fields, create=create)


# Assets ---------------------------------------------------------------------------------


@router.get("/assets")
def list_assets(
    ctx: CtxDep,
    who: WhoDep,
    site: str | None = None,
    q: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return history.listing(session, Asset, site=site, query=q, limit=limit, offset=offset)


@router.get("/assets/{ref}")
def show_asset(ctx: CtxDep, who: WhoDep, ref: str, limit: Limit = 50) -> dict[str, Any]:
    """The machine's story: tickets, resolutions, open work orders, alerts firing now."""
    with ctx.db.reading() as session:
        return history.machine(session, records.get(session, Asset, ref), limit=limit)


@router.post("/assets", status_code=201)
def add_asset(ctx: CtxDep, who: WhoDep, body: NewAsset) -> dict[str, Any]:
    return _save(ctx, who, records.ASSET, body.tag, body, create=True)


@router.patch("/assets/{ref}")
def update_asset(ctx: CtxDep, who: WhoDep, ref: str, body: AssetBody) -> dict[str, Any]:
    return _save(ctx, who, records.ASSET, ref, body, create=False)


# Sites ----------------------------------------------------------------------------------


@router.get("/sites")
def list_sites(
    ctx: CtxDep, who: WhoDep, q: str | None = None, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return history.listing(session, Site, query=q, limit=limit, offset=offset)


@router.get("/sites/{ref}")
def show_site(ctx: CtxDep, who: WhoDep, ref: str, limit: Limit = 50) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return history.site_view(session, records.get(session, Site, ref), limit=limit)


@router.post("/sites", status_code=201)
def add_site(ctx: CtxDep, who: WhoDep, body: NewSite) -> dict[str, Any]:
    return _save(ctx, who, records.SITE, body.code, body, create=True)


@router.patch("/sites/{ref}")
def update_site(ctx: CtxDep, who: WhoDep, ref: str, body: SiteBody) -> dict[str, Any]:
    return _save(ctx, who, records.SITE, ref, body, create=False)


# Work orders ----------------------------------------------------------------------------


@router.get("/work-orders")
def list_work_orders(
    ctx: CtxDep,
    who: WhoDep,
    status: str | None = None,
    asset: str | None = None,
    site: str | None = None,
    q: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return history.listing(
            session,
            WorkOrder,
            status=status,
            asset=asset,
            site=site,
            query=q,
            limit=limit,
            offset=offset,
        )


@router.get("/work-orders/{ref}")
def show_work_order(ctx: CtxDep, who: WhoDep, ref: str, limit: Limit = 50) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return history.work_order_view(session, records.get(session, WorkOrder, ref), limit=limit)


@router.post("/work-orders", status_code=201)
def add_work_order(ctx: CtxDep, who: WhoDep, body: NewWorkOrder) -> dict[str, Any]:
    return _save(ctx, who, records.WORK_ORDER, body.number, body, create=True)


@router.patch("/work-orders/{ref}")
def update_work_order(ctx: CtxDep, who: WhoDep, ref: str, body: WorkOrderBody) -> dict[str, Any]:
    return _save(ctx, who, records.WORK_ORDER, ref, body, create=False)
