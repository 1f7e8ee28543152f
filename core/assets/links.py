"""A ticket's links: the asset, site and work order it concerns, and a free-text location.

``apply`` ties a ticket to the records its fields name, creating them on the fly
(a ticket opened for ``PRESS-3`` creates that asset if nobody had). What one record
knows fills in the others, never overwriting what is set: a work order's asset and
site, an asset's site become the ticket's when it names none; a site or location
given with an asset becomes the asset's when it has none, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from core.assets import records
from core.models import Asset, Site, Ticket, WorkOrder

FIELDS = ("asset", "site", "work_order", "location")


def apply(session: Session, ticket: Ticket, given: Mapping[str, str | None]) -> None:
    """Set the links named in ``given`` (an empty value clears one), then fill in."""
    cleared = {name for name, value in given.items() if value is not None and not value.strip()}
    if given.get("asset") is not None:
        ticket.asset = _record(session, Asset, given["asset"])
    if given.get("site") is not None:
        ticket.site = _record(session, Site, given["site"])
    if given.get("work_order") is not None:
        ticket.work_order = _record(session, WorkOrder, given["work_order"])
    if given.get("location") is not None:
        ticket.location = (given["location"] or "").strip()[:300] or None
    order, asset, site = ticket.work_order, ticket.asset, ticket.site
    if order is not None:
        if asset is None and "asset" not in cleared and order.asset is not None:
            ticket.asset = asset = order.asset
        if site is None and "site" not in cleared and order.site is not None:
            ticket.site = site = order.site
    if asset is not None and site is None and "site" not in cleared and asset.site is not None:
        ticket.site = site = asset.site
    # The records learn from each other too, where they know nothing yet.
    if asset is not None:
        if site is not None and asset.site_id is None:
            asset.site = site
        if ticket.location and not asset.location:
            asset.location = ticket.location
    if order is not None:
        if asset is not None and order.asset_id is None:
            order.asset = asset
        if site is not None and order.site_id is None:
            order.site = site


def _record(
    session: Session, model: type[records.Record], ref: str | None
) -> records.Record | None:
    return records.find_or_create(session, model, ref or "") if records.key_of(ref or "") else None


def refs(ticket: Ticket) -> dict[str, str | None]:
    """The references a ticket is linked to, as people write them."""
    return {
        "asset": ticket.asset.tag if ticket.asset else None,
        "site": ticket.site.code if ticket.site else None,
        "work_order": ticket.work_order.number if ticket.work_order else None,
        "location": ticket.location,
    }
