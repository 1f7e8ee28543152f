"""Finding what an action names: a ticket by its number, a queue or category by slug."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Context
from core.errors import ActionRefused, NotFound
from core.models import Category, SupportQueue, Ticket, as_id

NUMBER_RE = re.compile(r"^\s*(?:#?T-?)?0*(\d+)\s*$", re.IGNORECASE)


def parse_number(number: str | int) -> int:
    """``T-000123``, ``#T-123``, ``123`` -> 123."""
    match = NUMBER_RE.match(number) if isinstance(number, str) else None
    found = as_id(number if isinstance(number, int) else match.group(1) if match else "")
    if found is None:
        raise NotFound(f"'{number}' is not a ticket number (expected T-000123)")
    return found


def get_ticket(session: Session, number: str | int, *, lock: bool = False) -> Ticket:
    """The ticket with this number (``lock``: for update). Raises ``NotFound``."""
    ticket = session.get(Ticket, parse_number(number), with_for_update=lock)
    if ticket is None:
        raise NotFound(f"ticket {number} does not exist")
    return ticket


def reference(
    ctx: Context, session: Session, model: type[SupportQueue] | type[Category], slug: str, what: str
) -> tuple[int, str]:
    """(id, slug) of a queue or category by slug; cached on the context (a slug
    keeps its id for good), unknown slugs are looked up every time.

    Raises ``ActionRefused`` (``field.queue``, ``field.category``) for an unknown slug.
    """
    key = (model.__tablename__, slug)
    found = ctx.refs.get(key)
    if found is None:
        row = session.execute(select(model.id, model.slug).where(model.slug == slug)).one_or_none()
        if row is None:
            raise ActionRefused(f"field.{what}", f"unknown {what} '{slug}'", kind="field")
        found = ctx.refs[key] = (row.id, row.slug)
    return found


def follow_merges(session: Session, ticket: Ticket) -> Ticket:
    """The ticket ``ticket`` was merged into (and that one into...): where its
    conversation lives now; ``ticket`` itself when it was never merged."""
    seen = set()
    while ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        nxt = session.get(Ticket, ticket.merged_into_id)
        if nxt is None:
            break
        ticket = nxt
    return ticket
