"""The data set bench/asset_context.py measures on, bulk-loaded with COPY.

At scale 1: 1,000,000 tickets (the first 1,000 about one machine, the rest spread
over 100,000 machines at 1,000 sites; seven in ten closed, one resolved, two open),
ten messages each (10,000,000; in and out, public and internal notes), 20,000 work
orders, a resolution record for every resolved or closed ticket (in its machine's
history), three audit events and one delivery per ticket. Reference rows (contacts,
an agent, a real ticket whose running SLA clocks the bulk tickets copy) go through
the core first (``reference_rows``).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bench.support import copy_rows, psycopg_dsn
from core.context import Context
from core.models import Agent, Category, Contact, Identity, SupportQueue
from core.principals import system
from core.tickets import opening

HOT_TICKETS = 1_000
WORDS = (
    "press hydraulic leak sensor conveyor motor overheat spindle vibration fault error "
    "replaced checked cleaned adjusted seal bearing belt pump valve panel alarm reset"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def reference_rows(ctx: Context) -> dict[str, Any]:
    """Contacts with identities, an agent, and a sample ticket, through the core."""
    with ctx.db.transaction() as s:
        sample = opening.open_ticket(
            ctx,
            s,
            system("bench"),
            subject="Sample",
            text="Sample ticket.",
            requester=("email", "sample@client.example", "Sample"),
            send_ack=False,
        )
        s.flush()
        sla_clock = dict(sample.sla_clock or {})

        agent = Agent(name="Bench Agent", email="agent@bench.example", roles=["agent"])
        s.add(agent)
        contacts = []
        for i in range(1000):
            contact = Contact(name=f"Client {i}")
            identity = Identity(kind="email", address=f"client{i}@bench.example", contact=contact)
            s.add_all([contact, identity])
            contacts.append((contact, identity))
        s.flush()
        refs = {
            "sla_clock": sla_clock,
            "agent_id": agent.id,
            "contacts": [(c.id, i.id, c.id) for c, i in contacts],
            "queue_id": s.execute(
                select(SupportQueue.id).where(SupportQueue.slug == "support")
            ).scalar_one(),
            "category_id": s.execute(
                select(Category.id).where(Category.slug == "general")
            ).scalar_one(),
            "first_id": sample.id + 1,
        }
    return refs


def _one(cur: Any) -> Any:
    row = cur.fetchone()
    assert row is not None
    return row[0]


def bulk_load(url: str, scale: float, refs: dict[str, Any], now: datetime) -> dict[str, int]:
    """COPY the data set; returns how many rows of each table."""
    import psycopg

    rng = random.Random(7)
    n_tickets = max(2 * HOT_TICKETS, int(1_000_000 * scale))
    n_assets = max(100, int(100_000 * scale))
    n_sites = max(10, n_assets // 100)
    n_orders = max(20, n_assets // 5)
    per_ticket = 10
    counts: dict[str, int] = {}
    clock_json = json.dumps(refs["sla_clock"])
    with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
        counts["sites"] = copy_rows(
            cur,
            "sites",
            ("key", "code", "name", "address", "created_at", "updated_at"),
            ((f"s-{i:05d}", f"S-{i:05d}", f"Site {i}", "", now, now) for i in range(n_sites)),
        )
        cur.execute("SELECT min(id) FROM sites")
        first_site = _one(cur)
        counts["assets"] = copy_rows(
            cur,
            "assets",
            (
                "key",
                "tag",
                "name",
                "model",
                "serial",
                "site_id",
                "location",
                "attributes",
                "created_at",
                "updated_at",
            ),
            (
                (
                    f"a-{i:06d}",
                    f"A-{i:06d}",
                    f"Machine {i}",
                    "M-200",
                    f"SN{i}",
                    first_site + i % n_sites,
                    "",
                    "{}",
                    now,
                    now,
                )
                for i in range(n_assets)
            ),
        )
        cur.execute("SELECT min(id) FROM assets")
        first_asset = _one(cur)
        counts["work_orders"] = copy_rows(
            cur,
            "work_orders",
            ("key", "number", "title", "status", "asset_id", "site_id", "created_at", "updated_at"),
            (
                (
                    f"wo-{i:06d}",
                    f"WO-{i:06d}",
                    "Planned service",
                    "open" if i % 2 else "closed",
                    first_asset + (i * 5) % n_assets,
                    first_site + ((i * 5) % n_assets) % n_sites,
                    now,
                    now,
                )
                for i in range(n_orders)
            ),
        )
        cur.execute("SELECT min(id) FROM work_orders")
        first_order = _one(cur)
        conn.commit()

        # Tickets: the first HOT_TICKETS are about the first machine; the rest spread.
        def asset_of(i: int) -> int:
            return first_asset if i < HOT_TICKETS else first_asset + 1 + i % (n_assets - 1)

        def status_of(i: int) -> str:
            r = i % 10
            return (
                "closed"
                if r < 7
                else ("resolved" if r == 7 else ("in_progress" if r == 8 else "new"))
            )

        start = now - timedelta(days=730)
        step = timedelta(days=730) / n_tickets
        counts["tickets"] = copy_rows(
            cur,
            "tickets",
            (
                "id",
                "subject",
                "status",
                "priority",
                "priority_reason",
                "category_id",
                "queue_id",
                "contact_id",
                "channel",
                "reply_identity_id",
                "asset_id",
                "site_id",
                "work_order_id",
                "tracking_token",
                "escalated",
                "sla_policy",
                "sla_clock",
                "resolved_at",
                "created_at",
                "updated_at",
            ),
            (
                (
                    refs["first_id"] + i,
                    sentence(rng, 6),
                    status_of(i),
                    ("P1", "P2", "P3", "P3", "P4")[i % 5],
                    "default",
                    refs["category_id"],
                    refs["queue_id"],
                    refs["contacts"][i % len(refs["contacts"])][0],
                    "email",
                    refs["contacts"][i % len(refs["contacts"])][1],
                    asset_of(i),
                    first_site + (asset_of(i) - first_asset) % n_sites,
                    None if i % 7 else first_order + (i // 7) % n_orders,
                    f"bulk-{i}-{uuid.uuid4().hex[:8]}",
                    False,
                    "P3",
                    clock_json,
                    start + step * i + timedelta(hours=6)
                    if status_of(i) in ("closed", "resolved")
                    else None,
                    start + step * i,
                    start + step * i,
                )
                for i in range(n_tickets)
            ),
        )
        conn.commit()
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"
        )
        conn.commit()
        print(f"  tickets loaded ({counts['tickets']:,})", flush=True)

        def messages() -> Any:
            body = sentence(rng, 18)
            for i in range(n_tickets):
                ticket_id = refs["first_id"] + i
                at = start + step * i
                for m in range(per_ticket):
                    inbound = m % 2 == 0
                    yield (
                        ticket_id,
                        "public" if inbound or m % 4 == 1 else "internal",
                        "in" if inbound else "out",
                        "email" if inbound or m % 4 == 1 else "internal",
                        refs["contacts"][i % len(refs["contacts"])][2] if inbound else None,
                        None if inbound else refs["agent_id"],
                        body,
                        at + timedelta(minutes=10 * m),
                    )

        counts["messages"] = copy_rows(
            cur,
            "messages",
            (
                "ticket_id",
                "kind",
                "direction",
                "channel",
                "author_contact_id",
                "author_agent_id",
                "body_text",
                "created_at",
            ),
            messages(),
        )
        conn.commit()
        print(f"  messages loaded ({counts['messages']:,})", flush=True)
        counts["resolution_records"] = copy_rows(
            cur,
            "resolution_records",
            ("ticket_id", "code", "steps", "agent_id", "asset_id", "created_at"),
            (
                (
                    refs["first_id"] + i,
                    ("fixed", "replaced", "workaround")[i % 3],
                    sentence(rng, 12),
                    refs["agent_id"],
                    asset_of(i),
                    start + step * i + timedelta(hours=6),
                )
                for i in range(n_tickets)
                if status_of(i) in ("closed", "resolved")
            ),
        )
        digest = "0" * 64
        counts["audit_events"] = copy_rows(
            cur,
            "audit_events",
            (
                "chain",
                "seq",
                "ticket_id",
                "actor",
                "action",
                "data",
                "created_at",
                "prev_hash",
                "hash",
            ),
            (
                (
                    f"ticket:{refs['first_id'] + i}",
                    seq,
                    refs["first_id"] + i,
                    "system:intake",
                    action,
                    "{}",
                    start + step * i,
                    digest,
                    digest,
                )
                for i in range(n_tickets)
                for seq, action in ((1, "open"), (2, "intake"), (3, "delivered"))
            ),
        )
        counts["outbox"] = copy_rows(
            cur,
            "outbox",
            (
                "key",
                "ticket_id",
                "kind",
                "channel",
                "recipient",
                "payload",
                "status",
                "attempts",
                "created_at",
                "sent_at",
            ),
            (
                (
                    f"ack:{refs['first_id'] + i}",
                    refs["first_id"] + i,
                    "ack",
                    "email",
                    "client@example.com",
                    "{}",
                    "sent",
                    1,
                    start + step * i,
                    start + step * i,
                )
                for i in range(n_tickets)
            ),
        )
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    return counts
