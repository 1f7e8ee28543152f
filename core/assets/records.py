"""Sites, assets and work orders by their references, and changes to them.

A record is named by the reference people use (a site's code, an asset's tag, a
work order's number), matched without regard to case or repeated spaces (its
``key``). ``find_or_create`` makes one on the fly, for a ticket's fields or an
alert's labels; ``save`` creates or updates one from the API or the command line,
checking each field and writing an audit event (on the ``system`` chain).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.models import Asset, Site, WorkOrder, WorkOrderStatus, as_id

Record = TypeVar("Record", Site, Asset, WorkOrder)

MAX_REF = 120
WORK_ORDER_STATUSES = tuple(WorkOrderStatus)


def clean(ref: str) -> str:
    """A reference as shown: trimmed, inner runs of spaces made one."""
    return " ".join((ref or "").split())[:MAX_REF]


def key_of(ref: str) -> str:
    """What a reference is matched by: ``clean`` and in lower case."""
    return clean(ref).lower()


@dataclass(frozen=True)
class Kind:
    """One kind of record: its model, what its reference is called, its text fields."""

    name: str
    model: type[Any]  # Site, Asset or WorkOrder
    ref: str
    texts: dict[str, int]  # field -> longest value kept

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")


SITE = Kind("site", Site, "code", {"name": 200, "address": 2000})
ASSET = Kind("asset", Asset, "tag", {"name": 200, "model": 200, "serial": 120, "location": 300})
WORK_ORDER = Kind("work_order", WorkOrder, "number", {"title": 300})
KINDS = {k.name: k for k in (SITE, ASSET, WORK_ORDER)}
_BY_MODEL: dict[type, Kind] = {k.model: k for k in KINDS.values()}


def find(session: Session, model: type[Record], ref: str) -> Record | None:
    """The record this reference names, or None (an empty reference names none)."""
    key = key_of(ref)
    if not key:
        return None
    return session.execute(select(model).where(model.key == key)).scalar_one_or_none()


def get(session: Session, model: type[Record], ref: str) -> Record:
    """``find``, by reference or else by numeric id; raises ``NotFound``."""
    row = find(session, model, ref)
    row_id = as_id(ref.strip()) if row is None else None
    if row_id is not None:
        row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{_BY_MODEL[model].title} '{ref}' does not exist")
    return row


def find_or_create(session: Session, model: type[Record], ref: str) -> Record:
    """The record this reference names, created with nothing but its reference if new."""
    row = find(session, model, ref)
    if row is not None:
        return row
    kind = _BY_MODEL[model]
    row = model(key=key_of(ref), **{kind.ref: clean(ref)})
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time: no race
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another transaction created it just now
        found = find(session, model, ref)
        assert found is not None
        return found
    return row


def save(
    ctx: Context,
    session: Session,
    actor: str,
    kind_name: str,
    ref: str,
    fields: Mapping[str, Any],
    *,
    create: bool,
) -> Site | Asset | WorkOrder:
    """Create (``create``) or update the record ``ref`` names with ``fields``.

    Fields: the kind's text fields; for assets also ``site`` (a site code) and
    ``attributes`` (a JSON object, merged; a null value removes a key); for work
    orders ``status`` (open, closed), ``asset`` and ``site``. A site or asset named
    is created if new; an empty one clears the link.

    Raises ``ActionRefused``: ``field.*`` for a wrong field, ``KIND.exists`` when
    creating one that exists. ``NotFound`` when updating one that does not.
    """
    kind = KINDS[kind_name]
    if not key_of(ref):
        raise ActionRefused(
            f"field.{kind.ref}", f"the {kind.title}'s {kind.ref} is required", kind="field"
        )
    unknown = set(fields) - set(kind.texts) - _LINKS.get(kind.name, set())
    if unknown:
        raise ActionRefused(
            f"field.{sorted(unknown)[0]}",
            f"a {kind.title} has no field {', '.join(sorted(unknown))}",
            kind="field",
        )
    row: Any = find(session, kind.model, ref)
    if create and row is not None:
        raise ActionRefused(
            f"{kind.name}.exists",
            f"{kind.title} '{getattr(row, kind.ref)}' exists already; update it instead",
            kind="conflict",
        )
    if row is None:
        if not create:
            raise NotFound(f"{kind.title} '{ref}' does not exist")
        row = find_or_create(session, kind.model, ref)
    changed: dict[str, Any] = {}
    for name, limit in kind.texts.items():
        if name in fields and fields[name] is not None:
            value = str(fields[name]).strip()[:limit]
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed[name] = value
    _links(ctx, session, kind, row, fields, changed)
    row.updated_at = ctx.now()
    action = f"{kind.name}_{'created' if create else 'updated'}"
    audit.record(
        session,
        actor=actor,
        action=action,
        data={kind.ref: getattr(row, kind.ref), "id": row.id, **changed},
        now=ctx.now(),
    )
    return row


_LINKS = {"asset": {"site", "attributes"}, "work_order": {"status", "asset", "site"}}


def _links(
    ctx: Context,
    session: Session,
    kind: Kind,
    row: Any,
    fields: Mapping[str, Any],
    changed: dict[str, Any],
) -> None:
    """The fields of a record that name other records, or are not plain text."""
    if "site" in fields and fields["site"] is not None:
        site = find_or_create(session, Site, fields["site"]) if key_of(fields["site"]) else None
        row.site_id = site.id if site else None
        changed["site"] = site.code if site else None
    if kind is ASSET and fields.get("attributes") is not None:
        given = fields["attributes"]
        if not isinstance(given, dict):
            raise ActionRefused(
                "field.attributes", "attributes must be a JSON object", kind="field"
            )
        merged = {**(row.attributes or {}), **given}
        row.attributes = {k: v for k, v in merged.items() if v is not None}
        changed["attributes"] = given
    if kind is WORK_ORDER:
        if "asset" in fields and fields["asset"] is not None:
            asset = (
                find_or_create(session, Asset, fields["asset"]) if key_of(fields["asset"]) else None
            )
            row.asset_id = asset.id if asset else None
            changed["asset"] = asset.tag if asset else None
            if asset is not None and row.site_id is None and asset.site_id is not None:
                row.site_id = asset.site_id
        status = fields.get("status")
        if status is not None:
            if status not in WORK_ORDER_STATUSES:
                raise ActionRefused(
                    "field.status",
                    f"a work order's status is one of {', '.join(s.value for s in WorkOrderStatus)}",
                    kind="field",
                )
            if status != row.status:
                row.status = WorkOrderStatus(status)
                row.closed_at = ctx.now() if status == WorkOrderStatus.CLOSED else None
                changed["status"] = status
