"""Where an erased client is mentioned outside their own rows: other people's text
(an address, or a full name), raw inbound payloads that hold an address, and the
JSON API's stored answers; and how the mentions are replaced."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.orm import Session

from core.models import (
    ContactLink,
    IdempotentRequest,
    InboundRecord,
    Message,
    Override,
    ResolutionRecord,
    SatisfactionAnswer,
    Ticket,
)
from core.privacy.holdings import chunks

ERASED = "[erased]"
# Text written about tickets, searched for mentions of the person on any ticket.
MENTIONS = (
    (Message, ("body_text", "body_html")),
    (ResolutionRecord, ("steps",)),  # immutable: a mention erases the whole text
    (Ticket, ("subject", "hold_note", "priority_reason", "location")),
    (Override, ("reason",)),
    (ContactLink, ("reason",)),
    (SatisfactionAnswer, ("comment",)),
)


def raw_holding(session: Session, addresses: set[str]) -> set[int]:
    """Inbound records whose raw payload holds one of these addresses (the database
    searches the bytes)."""
    found: set[int] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    clause = (
        "position(CAST(:needle AS bytea) IN raw) > 0" if postgres else "instr(raw, :needle) > 0"
    )
    for address in sorted(a for a in addresses if len(a) >= 3):
        found |= set(
            session.execute(
                select(InboundRecord.id).where(text(clause).bindparams(needle=address.encode()))
            ).scalars()
        )
    return found


def _mentions(needles: set[str]) -> list[str]:
    """The strings searched for in other people's text: addresses and full names
    (two words or more); a lone first name would match strangers."""
    return sorted(n for n in needles if "@" in n or " " in n or any(c.isdigit() for c in n))


def mentioning(session: Session, needles: set[str]) -> dict[tuple[Any, str], set[Any]]:
    found: dict[tuple[Any, str], set[Any]] = {}
    for model, columns in MENTIONS:
        table = model.__table__
        assert isinstance(table, Table)
        key = next(iter(table.primary_key.columns))
        for column in columns:
            for needle in _mentions(needles):
                ids = session.execute(
                    select(key).where(func.lower(table.c[column]).contains(needle, autoescape=True))
                ).scalars()
                found.setdefault((model, column), set()).update(ids)
    return found


def replace_mentions(
    session: Session, found: dict[tuple[Any, str], set[Any]], needles: set[str]
) -> None:
    pattern = re.compile("|".join(re.escape(n) for n in _mentions(needles)), re.IGNORECASE)
    if not pattern.pattern:
        return
    for (model, column), ids in found.items():
        table = model.__table__
        key = next(iter(table.primary_key.columns))
        for part in chunks(ids):
            for row_id, value in session.execute(
                select(key, table.c[column]).where(key.in_(part))
            ).all():
                if value and pattern.search(value):
                    new = ERASED if model is ResolutionRecord else pattern.sub(ERASED, value)
                    session.execute(update(table).where(key == row_id).values({column: new}))


def forget_answers(session: Session, needles: set[str]) -> int:
    """Stored API answers (idempotency keys) that hold the client's name or address
    (few rows: they expire within a day)."""
    ids = []
    for row_id, body in session.execute(
        select(IdempotentRequest.id, IdempotentRequest.body).where(
            IdempotentRequest.body.is_not(None)
        )
    ).all():
        words = bytes(body or b"").decode("utf-8", "replace")
        try:  # JSON escapes what is not ASCII: read it back
            words += json.dumps(json.loads(words), ensure_ascii=False)
        except ValueError:
            pass
        if any(n in words.lower() for n in needles):
            ids.append(row_id)
    for part in chunks(ids):
        session.execute(delete(IdempotentRequest).where(IdempotentRequest.id.in_(part)))
    return len(ids)
