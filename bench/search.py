"""Benchmark: ticket search (``GET /api/tickets?q=``) over a large generated set.

    .venv/bin/python bench/search.py [--tickets 100000] [--messages 3] [--postgres]

Creates a throwaway database (SQLite in a temporary directory; with ``--postgres`` a
database on SWITCHBOARD_TEST_POSTGRES_URL's server), migrates it, and loads
``--tickets`` tickets (six in ten closed) of one client each out of a fifth as many
clients (a made-up name and an email address each), with ``--messages`` messages
per ticket: a dozen words drawn from a 20,000-word vocabulary on a Zipf curve (the
most common word is in most messages), three in ten with an error code ``E00000``
to ``E99999``. Rows go in through plain INSERTs, so the search index is kept by
the same triggers (SQLite) or index maintenance (PostgreSQL) as in production.

Then it times ``core.tickets.views.list_tickets(query=...)``, the API's and
``tickets list -q``'s path, closed tickets included (``--all``): the count of
matching tickets and the newest 50 with their summaries, for random queries of each kind: an error code
found only in message text, a client's name, a ticket number, a word in about one
message in a hundred, the most common word, and two words together (``--samples``
of each of the first three, a tenth as many of the broad ones). Prints p50, p95
and p99 per kind and how many tickets each matched. The database is dropped
at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from bench import machine_data  # noqa: E402
from bench.support import ScratchDatabase, copy_rows, psycopg_dsn  # noqa: E402
from config.runtime import build_context, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.models import Contact, Identity, Message, Ticket  # noqa: E402
from core.tickets import views  # noqa: E402

SYLLABLES = (
    "ka lo mi ne ru sa to vi ze bo da fe gu hi ja ko lu ma no pe ri su ta ve wo xi yo".split()
)
CHUNK = 5_000


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words, key=lambda w: rng.random())


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def copy(url: str, table: str, rows: Iterator[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows in (the GIN indexes are kept as they go in)."""
    import psycopg

    first = next(rows)
    values = (
        tuple(json.dumps(v) if isinstance(v, dict) else v for v in row.values())
        for row in itertools.chain([first], rows)
    )
    with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
        copy_rows(cur, table, tuple(first), values)
        conn.commit()


def load(ctx: Any, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """Generate and insert the data set; what the queries are drawn from."""
    refs = machine_data.reference_rows(ctx)  # a real ticket's SLA clocks, queue, category
    clock, first_id = refs["sla_clock"], refs["first_id"]
    queue_id, category_id = refs["queue_id"], refs["category_id"]
    with ctx.db.reading() as s:
        contact_start = (s.execute(select(func.max(Contact.id))).scalar_one() or 0) + 1
        identity_start = (s.execute(select(func.max(Identity.id))).scalar_one() or 0) + 1
    words = vocabulary(rng, 20_000)
    cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    n_contacts = max(10, args.tickets // 5)
    names = [f"{rng.choice(words).title()} {rng.choice(words).title()}" for _ in range(n_contacts)]
    now = datetime.now(UTC)
    start = now - timedelta(days=730)
    step = timedelta(days=730) / args.tickets
    codes: list[str] = []

    def contacts() -> Iterator[dict[str, Any]]:
        for i, name in enumerate(names):
            yield {"id": contact_start + i, "name": name, "created_at": now}

    def identities() -> Iterator[dict[str, Any]]:
        for i, name in enumerate(names):
            yield {
                "id": identity_start + i,
                "contact_id": contact_start + i,
                "kind": "email",
                "address": f"{name.replace(' ', '.').lower()}.{i}@client{i % 97}.example",
                "display": name,
                "created_at": now,
            }

    def tickets() -> Iterator[dict[str, Any]]:
        for i in range(args.tickets):
            at = start + step * i
            yield {
                "id": first_id + i,
                "subject": " ".join(rng.choices(words, cum_weights=cum, k=5)).capitalize(),
                "status": "closed" if i % 10 < 6 else ("new" if i % 10 < 8 else "in_progress"),
                "priority": ("P1", "P2", "P3", "P3", "P4")[i % 5],
                "priority_reason": "default",
                "category_id": category_id,
                "queue_id": queue_id,
                "contact_id": contact_start + i % n_contacts,
                "channel": "email",
                "reply_identity_id": identity_start + i % n_contacts,
                "tracking_token": f"bulk-{i}-{uuid.uuid4().hex[:12]}",
                "escalated": False,
                "sla_policy": "P3",
                "sla_clock": clock,
                "created_at": at,
                "updated_at": at,
            }

    def messages() -> Iterator[dict[str, Any]]:
        for i in range(args.tickets):
            for m in range(args.messages):
                body = " ".join(rng.choices(words, cum_weights=cum, k=12)).capitalize() + "."
                if rng.random() < 0.3:
                    code = f"E{rng.randint(0, 99_999):05d}"
                    codes.append(code)
                    body += f" Error {code} on the panel."
                yield {
                    "ticket_id": first_id + i,
                    "kind": "public" if m % 2 == 0 else "internal",
                    "direction": "in" if m % 2 == 0 else "out",
                    "channel": "email",
                    "body_text": body,
                    "created_at": start + step * i + timedelta(minutes=m),
                }

    started = time.perf_counter()
    for model, rows in (
        (Contact, contacts()),
        (Identity, identities()),
        (Ticket, tickets()),
        (Message, messages()),
    ):
        if args.postgres:
            copy(args.url, model.__tablename__, rows)
        else:
            for batch in chunks(rows):
                with ctx.db.transaction() as s:
                    s.execute(insert(model), batch)
        print(f"  {model.__tablename__} loaded ({time.perf_counter() - started:.0f} s)", flush=True)
    with ctx.db.transaction() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"
                )
            )
            s.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts))"
                )
            )
            s.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('identities', 'id'), (SELECT max(id) FROM identities))"
                )
            )
    if args.postgres:  # what autovacuum does soon after a load: the GIN pending lists merged
        engine = create_engine(args.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()
    else:
        with ctx.db.transaction() as s:
            s.execute(text("ANALYZE"))
    return {
        "words": words,
        "codes": codes,
        "names": names,
        "ids": (first_id, first_id + args.tickets - 1),
        "seconds": time.perf_counter() - started,
    }


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(ctx: Any, queries: list[str]) -> tuple[list[float], list[int]]:
    times, totals = [], []
    for q in queries:
        started = time.perf_counter()
        with ctx.db.reading() as s:
            data = views.list_tickets(ctx, s, query=q, include_closed=True, limit=50)
        times.append((time.perf_counter() - started) * 1000)
        totals.append(data["total"])
    return times, totals


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3, help="messages per ticket")
    parser.add_argument(
        "--samples", type=int, default=200, help="queries timed per selective kind (broad: a tenth)"
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a stopped run still drops its database
    rng = random.Random(5)
    tmp = Path(tempfile.mkdtemp(prefix="sb-search-"))
    database = ScratchDatabase("sb_search") if args.postgres else None
    url = database.url if database else ""
    args.url = url
    ctx = None
    try:
        settings = load_settings(
            data_dir=tmp, database_url=url, secret_key="bench", log_level="WARNING"
        )
        migrate(settings)
        ctx = build_context(settings)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(
            f"loading {args.tickets:,} tickets, {args.tickets * args.messages:,} messages into {backend} ...",
            flush=True,
        )
        data = load(ctx, args, rng)
        lo, hi = data["ids"]
        kinds: list[tuple[str, Callable[[], str]]] = [
            ("error code, only in message text (E01234)", lambda: rng.choice(data["codes"])),
            ("client name (first and last)", lambda: rng.choice(data["names"])),
            ("ticket number (T-000123)", lambda: f"T-{rng.randint(lo, hi):06d}"),
            ("a word in ~1 message in 100", lambda: data["words"][rng.randint(60, 90)]),
            ("the most common word", lambda: data["words"][0]),
            (
                "two words together",
                lambda: f"{data['words'][rng.randint(3, 30)]} {data['words'][rng.randint(3, 30)]}",
            ),
        ]
        measure(ctx, [kinds[0][1]() for _ in range(20)])  # warm up
        print()
        print(
            f"Search benchmark: {backend}, {args.tickets:,} tickets, {args.tickets * args.messages:,} "
            f"messages, {len(data['names']):,} clients (loaded in {data['seconds']:.0f} s); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"  {'query':<44} {'p50':>8} {'p95':>8} {'p99':>8}   tickets matched (median, max)")
        for n, (label, make) in enumerate(kinds):
            # The broad queries (the last three) take longest: a tenth as many samples.
            count = args.samples if n < 3 else max(10, args.samples // 10)
            times, totals = measure(ctx, [make() for _ in range(count)])
            print(
                f"  {label:<44} {percentile(times, 0.5):6.1f}ms {percentile(times, 0.95):6.1f}ms "
                f"{percentile(times, 0.99):6.1f}ms   {percentile(totals, 0.5):,} / {max(totals):,}",
                flush=True,
            )
        return 0
    finally:
        if ctx is not None:
            ctx.db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if database is not None:
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
