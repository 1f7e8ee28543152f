"""A ticket's fields: its priority, the queue and category it is filed under, and
the asset, site, work order and location it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from core.context import Context
from core.errors import ActionRefused
from core.events import Change
from core.models import Category, SupportQueue, Ticket
from core.principals import Principal
from core.tickets.change import apply
from core.tickets.lookup import reference


def set_priority(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    priority: str,
    reason: str = "",
    override_reason: str | None = None,
) -> Change:
    """Change priority. Lowering a P1 that a routing rule chose needs a lead's override."""
    extra = []
    if ticket.priority == "P1" and priority != "P1" and ticket.priority_reason.startswith("rule"):
        extra.append(
            ActionRefused(
                "priority.rule_p1",
                f"P1 was chosen by {ticket.priority_reason}; lowering it needs a lead's approval",
                kind="state",
                overridable=True,
            )
        )
    before = ticket.priority

    def edit() -> None:
        ticket.priority = priority
        ticket.priority_reason = f"set by {who.label}: {reason}".strip().rstrip(":")

    return apply(
        ctx,
        session,
        who,
        ticket,
        "set_priority",
        fields={"priority": priority, "reason": reason},
        data={"from_priority": before, "priority": priority, "reason": reason},
        override_reason=override_reason,
        extra=extra,
        edit=edit,
    )


@dataclass(frozen=True)
class Filing:
    """A reference field of a ticket: the table its slugs name and the column it sets."""

    model: type[SupportQueue] | type[Category]
    column: str


FILINGS: dict[str, Filing] = {
    "queue": Filing(SupportQueue, "queue_id"),
    "category": Filing(Category, "category_id"),
}


def file_under(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    field: Literal["queue", "category"],
    slug: str,
    *,
    override_reason: str | None = None,
) -> Change:
    """Move the ticket to another queue or category by slug (the actions ``set_queue``
    and ``set_category``).

    Raises ``ActionRefused`` for an unknown slug (``field.queue``, ``field.category``).
    """
    filing = FILINGS[field]
    row_id, _ = reference(ctx, session, filing.model, slug, field)

    def edit() -> None:
        setattr(ticket, filing.column, row_id)

    return apply(
        ctx,
        session,
        who,
        ticket,
        f"set_{field}",
        fields={field: slug},
        data={field: slug},
        override_reason=override_reason,
        edit=edit,
    )


LINK_FIELDS = {
    "asset": "asset_ref",
    "site": "site_ref",
    "work_order": "work_order_ref",
    "location": "location",
}


def link(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
    **refs: str | None,
) -> Change:
    """Set the references given (``asset=``, ``site=``, ``work_order=``, ``location=``);
    an empty one clears it."""
    unknown = set(refs) - set(LINK_FIELDS)
    if unknown:
        raise ActionRefused(
            "link.fields", f"unknown link field(s): {', '.join(sorted(unknown))}", kind="field"
        )
    given = {k: v for k, v in refs.items() if v is not None}
    if not given:
        raise ActionRefused(
            "field.link", "give at least one of asset, site, work_order, location", kind="field"
        )

    def edit() -> None:
        for name, value in given.items():
            setattr(ticket, LINK_FIELDS[name], value.strip() or None)

    return apply(
        ctx,
        session,
        who,
        ticket,
        "link",
        data=given,
        override_reason=override_reason,
        edit=edit,
    )
