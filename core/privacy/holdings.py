"""What the database holds about one contact, found by walking the foreign keys.

Starting from the contact's row, every row that references a row already found
(by a foreign key) is found too, until nothing new turns up: the contacts linked
into it, its identities, its tickets, their messages, attachments, deliveries,
inbound records, SLA events, satisfaction answers, ..., the messages it wrote on
other tickets and the places it holds on them. Two references are not followed:
another ticket merged into, or linked from, one of theirs belongs to someone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, or_, select
from sqlalchemy.orm import Session

from core.models import AuditEvent, Base, Contact, KnownAddress

NOT_FOLLOWED = frozenset({("tickets", "merged_into_id"), ("tickets", "linked_from_id")})
CHUNK = 500
MIN_NEEDLE = 3  # shorter strings are not searched for (they would match everywhere)


def references() -> list[tuple[Table, Column[Any], str, str]]:
    """Every followed foreign key: (referencing table, its column, referenced table,
    referenced column)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if (table.name, fk.parent.name) not in NOT_FOLLOWED:
                found.append((table, fk.parent, fk.column.table.name, fk.column.name))
    return found


def reachable_tables() -> set[str]:
    """The tables whose rows can hold something about a contact (``contacts`` too)."""
    tables = {"contacts"}
    grew = True
    while grew:
        grew = False
        for table, _column, target, _ in references():
            if target in tables and table.name not in tables:
                tables.add(table.name)
                grew = True
    return tables


def chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = sorted(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


@dataclass
class Holdings:
    """The rows about one contact, by table and primary key, as plain mappings."""

    contact_id: int
    rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    # The events of ``audit`` on the chains of the contact's own tickets.
    own_chains: set[str] = field(default_factory=set)

    def of(self, table: str) -> list[dict[str, Any]]:
        return list(self.rows.get(table, {}).values())

    def ids(self, table: str, column: str = "id") -> set[Any]:
        return {r[column] for r in self.of(table) if r[column] is not None}

    def addresses(self) -> set[tuple[str, str]]:
        return {(r["kind"], r["address"]) for r in self.of("identities")}

    def needles(self) -> set[str]:
        """The strings that identify the person (lower case): names and addresses."""
        found = {r["name"] for r in self.of("contacts")}
        found |= {r["address"] for r in self.of("identities")}
        found |= {r["display"] for r in self.of("identities")}
        return {n.strip().lower() for n in found if n and len(n.strip()) >= MIN_NEEDLE}

    def texts(self) -> set[str]:
        """What the person wrote (lower case): their messages, their tickets' subjects."""
        own = self.ids("contacts")
        found = {r["body_text"] for r in self.of("messages") if r["author_contact_id"] in own}
        found |= {r["subject"] for r in self.of("tickets")}
        return {t.strip().lower() for t in found if t and len(t.strip()) >= 8}


def _add(holdings: Holdings, table: Table, rows: Iterable[Any]) -> int:  # how many were new
    keep = holdings.rows.setdefault(table.name, {})
    key_columns = [c.name for c in table.primary_key.columns]
    new = 0
    for row in rows:
        values = dict(row._mapping)
        key = tuple(values[c] for c in key_columns)
        if key not in keep:
            keep[key] = values
            new += 1
    return new


def collect(session: Session, contact: Contact) -> Holdings:
    """Everything held about ``contact`` (see the module's docstring)."""
    holdings = Holdings(contact.id)
    contacts = Contact.__table__
    assert isinstance(contacts, Table)
    _add(holdings, contacts, session.execute(select(contacts).where(contacts.c.id == contact.id)))
    asked: dict[tuple[str, str], set[Any]] = {}
    grew = True
    while grew:
        grew = False
        for table, column, target, target_column in references():
            values = {r[target_column] for r in holdings.of(target)} - {None}
            todo = values - asked.setdefault((table.name, column.name), set())
            if not todo:
                continue
            asked[(table.name, column.name)] |= todo
            for part in chunks(todo):
                if _add(holdings, table, session.execute(select(table).where(column.in_(part)))):
                    grew = True
    _audit(session, holdings)
    return holdings


def _audit(session: Session, holdings: Holdings) -> None:
    """The audit events about the person: every event on their own tickets' chains,
    and those on the system chain or on tickets they took part in whose data names
    them (a name, an address or what they wrote)."""
    own = holdings.ids("tickets")
    holdings.own_chains = {f"ticket:{t}" for t in own}
    elsewhere = (
        holdings.ids("participants", "ticket_id")
        | holdings.ids("messages", "ticket_id")
        | holdings.ids("contact_link_codes", "ticket_id")
    )
    addresses = holdings.addresses()
    if addresses:
        known = or_(
            *(
                (KnownAddress.channel == kind) & (KnownAddress.address == address)
                for kind, address in addresses
            )
        )
        elsewhere |= set(session.execute(select(KnownAddress.ticket_id).where(known)).scalars())
    chains = {"system"} | {f"ticket:{t}" for t in elsewhere - own}
    found: list[AuditEvent] = []
    for part in chunks(holdings.own_chains):
        found += session.execute(select(AuditEvent).where(AuditEvent.chain.in_(part))).scalars()
    strings = holdings.needles() | holdings.texts()
    for part in chunks(chains):
        for ev in session.execute(select(AuditEvent).where(AuditEvent.chain.in_(part))).scalars():
            if names_any(ev.data, strings):
                found.append(ev)
    holdings.audit = sorted(found, key=lambda e: (e.chain, e.seq))


def leaves(value: Any) -> Iterator[tuple[str, str]]:
    """(key, text) of every string in a JSON value (key: the nearest dict key)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, str):
            yield key, item
        elif isinstance(item, dict):
            stack.extend((str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((key, v) for v in item)


def names_any(value: Any, strings: set[str]) -> bool:
    """Whether any string in the JSON value holds one of ``strings`` (lower case)."""
    return any(s in text.lower() for _, text in leaves(value) for s in strings)
