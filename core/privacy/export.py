"""Everything held about a contact as one JSON document (a subject access request).

The document::

    {"format": "switchboard-contact-export", "version": 1,
     "contact": "C-000012", "exported_at": "...",
     "tables": {"contacts": [...], "identities": [...], "tickets": [...], ...},
     "audit_events": [...],
     "files": [{"sha256": ..., "size": ..., "content_base64": ...}]}

``tables`` has one entry for every table that can hold something about a contact
(``holdings.reachable_tables``), empty lists included, each row with all its
columns: times in ISO 8601, bytes (raw inbound payloads: the email as it came) in
base64. Deliveries are those sent to the client's own addresses (not the pings
to staff about their tickets). ``files`` holds the bytes of every attachment, in
base64, once per content (``attachments`` rows name them by ``sha256``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from core import audit, blobs
from core.contacts import format_contact
from core.context import Context
from core.models import AuditEvent, Contact
from core.principals import Principal
from core.privacy import require_lead
from core.privacy.holdings import Holdings, collect, reachable_tables
from core.tickets.views import fields_of, iso

FORMAT = "switchboard-contact-export"
VERSION = 1


def plain(value: Any) -> Any:
    """A column's value as JSON holds it."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Enum):
        return value.value
    return value


def export(ctx: Context, session: Session, who: Principal, contact: Contact) -> dict[str, Any]:
    """The export document of ``contact`` (see the module's docstring), for a lead or
    an admin; audited on the system chain (``contact_exported``), in the caller's
    transaction. Raises ``ActionRefused`` (``privacy.role``) for anyone else."""
    require_lead(who, "export")
    held = collect(session, contact)
    doc = document(ctx, session, held)
    audit.record(
        session,
        actor=who.label,
        action="contact_exported",
        data={"contact": doc["contact"], "tickets": len(doc["tables"]["tickets"])},
        now=ctx.now(),
    )
    return doc


def document(ctx: Context, session: Session, held: Holdings) -> dict[str, Any]:
    addresses = {address for _, address in held.addresses()}
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(reachable_tables()):
        rows = held.of(name)
        if name == "outbox":
            rows = [r for r in rows if r["recipient"] in addresses]
        tables[name] = [{k: plain(v) for k, v in r.items()} for r in rows]
    files = []
    for digest in sorted({r["sha256"] for r in held.of("attachments") if r["sha256"]}):
        data = blobs.get(session, digest)
        if data is not None:
            files.append(
                {
                    "sha256": digest,
                    "size": len(data),
                    "content_base64": base64.b64encode(data).decode(),
                }
            )
    return {
        "format": FORMAT,
        "version": VERSION,
        "contact": format_contact(held.contact_id),
        "exported_at": iso(ctx.now()),
        "tables": tables,
        "audit_events": [_event(e) for e in held.audit],
        "files": files,
    }


def _event(ev: AuditEvent) -> dict[str, Any]:
    return {
        **fields_of(ev, "chain", "seq", "ticket_id", "actor", "action", "data"),
        "at": iso(ev.created_at),
        **fields_of(ev, "hash", "erased_at", "erased_by"),
    }
