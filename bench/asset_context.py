"""Benchmark: ticket context and machine history at scale, and alert intake at 100 alerts/s.

    .venv/bin/python bench/asset_context.py [--scale 1.0] [--rate 100] [--seconds 30]

Creates a throwaway PostgreSQL database (on SWITCHBOARD_TEST_POSTGRES_URL's server),
migrates it and bulk-loads with COPY (at ``--scale 1``): 1,000,000 tickets,
10,000,000 messages, 100,000 assets at 1,000 sites, 20,000 work orders, a
resolution record for every resolved or closed ticket, three audit events and one
delivery per ticket. One machine has 1,000 tickets of its own. Then:

1. ticket context: ``core.tickets.context.assemble`` (what the API, ``tickets
   show`` and the Slack card read: ticket, client, SLA, escalation, thread,
   deliveries, audit, and the machine with its recent history) for random
   tickets, p50/p95/p99 (goal: p95 under 25 ms);
2. machine history: ``core.assets.history.machine`` for the machine with 1,000
   tickets, its latest 50 and all 1,000 (goal: p95 under 25 ms);
3. alert intake: ``switchboard up`` in another process on this database; this
   process offers ``--rate`` alerts a second for ``--seconds`` seconds, each a
   signed Alertmanager notification of one alert (nine in ten new firing alerts
   on random machines, one in ten resolving an earlier one), and measures the
   answer latency (p50/p99), how long each took from stored to decided, and
   the throughput the workers kept. Then a burst of ``--burst`` alerts as fast
   as 16 connections send them, for the most the process can take.

The database is dropped at the end. ``--scale 0.01`` is a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config.runtime import build_context, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.assets import history  # noqa: E402
from core.models import (  # noqa: E402
    Agent,
    Asset,
    Category,
    Contact,
    Identity,
    InboundRecord,
    SupportQueue,
    Ticket,
)
from core.principals import system  # noqa: E402
from core.tickets import actions, context  # noqa: E402

POSTGRES_URL = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOKEN = "bench-alerts-token"
HOT_TICKETS = 1_000
WORDS = (
    "press hydraulic leak sensor conveyor motor overheat spindle vibration fault error "
    "replaced checked cleaned adjusted seal bearing belt pump valve panel alarm reset"
).split()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(share * len(ordered) + 0.5)) - 1))]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Bulk load --------------------------------------------------------------------------------


def copy_rows(cur: Any, table: str, columns: tuple[str, ...], rows: Any) -> int:
    count = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def bulk_load(url: str, scale: float, refs: dict[str, Any], now: datetime) -> dict[str, int]:
    """COPY the data set; returns how many rows of each table."""
    import psycopg

    rng = random.Random(7)
    n_tickets = max(2 * HOT_TICKETS, int(1_000_000 * scale))
    n_assets = max(100, int(100_000 * scale))
    n_sites = max(10, n_assets // 100)
    n_orders = max(20, n_assets // 5)
    per_ticket = 10
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    counts: dict[str, int] = {}
    clock_json = json.dumps(refs["sla_clock"])
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        counts["sites"] = copy_rows(
            cur,
            "sites",
            ("key", "code", "name", "address", "created_at", "updated_at"),
            ((f"s-{i:05d}", f"S-{i:05d}", f"Site {i}", "", now, now) for i in range(n_sites)),
        )
        cur.execute("SELECT min(id) FROM sites")
        first_site = cur.fetchone()[0]
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
        first_asset = cur.fetchone()[0]
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
        first_order = cur.fetchone()[0]
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


# Measurements -------------------------------------------------------------------------------


def time_calls(fn: Any, items: list[Any]) -> list[float]:
    timings = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def summary(name: str, ms: list[float], goal: float | None = None) -> str:
    line = (
        f"  {name}: p50 {percentile(ms, 0.5):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms over {len(ms):,}"
    )
    return line + (f"  (goal p95 < {goal:g} ms)" if goal else "")


def alert_body(n: int, status: str, tag: str, at: datetime) -> bytes:
    labels = {"alertname": "BenchAlert", "asset": tag, "instance": f"node-{n}:9100"}
    alert = {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"Bench alert {n} on {tag}"},
        "startsAt": at.isoformat().replace("+00:00", "Z"),
        "endsAt": (at + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "generatorURL": f"http://prometheus.bench:9090/graph?g0.expr=bench{n}",
        "fingerprint": f"{n:016x}",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="BenchAlert", instance="node-{n}:9100"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "bench",
            "groupLabels": {"alertname": "BenchAlert"},
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.bench:9093",
            "alerts": [alert],
        }
    ).encode()


async def offer(
    url: str, bodies: list[bytes], rate: float | None, connections: int = 16
) -> tuple[list[float], list[int], float]:
    """POST each body (at ``rate`` a second, or as fast as ``connections`` allow);
    returns the answer latencies (ms), the statuses and the seconds it took."""
    import httpx

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        gate = asyncio.Semaphore(connections)

        async def one(body: bytes) -> None:
            async with gate:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status_code)

        began = time.perf_counter()
        tasks = []
        for i, body in enumerate(bodies):
            if rate:
                delay = began + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
        return latencies, statuses, time.perf_counter() - began


def wait_decided(ctx: Any, since_id: int, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.db.reading() as s:
            left = s.execute(
                select(func.count())
                .select_from(InboundRecord)
                .where(InboundRecord.id > since_id, InboundRecord.status == "pending")
            ).scalar_one()
            total = s.execute(
                select(func.count()).select_from(InboundRecord).where(InboundRecord.id > since_id)
            ).scalar_one()
        if total >= count and left == 0:
            return True
        time.sleep(0.2)
    return False


def decided(ctx: Any, since_id: int) -> tuple[list[float], float, int, list[str]]:
    """Stored-to-decided seconds per record, the span first stored to last decided, how
    many records, and the outcomes of any that were not applied."""
    with ctx.db.reading() as s:
        rows = s.execute(
            select(
                InboundRecord.received_at,
                InboundRecord.decided_at,
                InboundRecord.status,
                InboundRecord.reason,
            ).where(InboundRecord.id > since_id)
        ).all()
    lags = [(d - r).total_seconds() for r, d, _, _ in rows if d]
    span = (max(d for _, d, _, _ in rows if d) - min(r for r, _, _, _ in rows)).total_seconds()
    bad = [f"{st}: {reason}" for _, _, st, reason in rows if st != "done"][:3]
    return lags, span, len(rows), bad


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 1,000,000 tickets")
    parser.add_argument("--samples", type=int, default=1000, help="ticket contexts timed")
    parser.add_argument("--rate", type=float, default=100.0, help="alerts offered a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long they are offered")
    parser.add_argument("--burst", type=int, default=2000, help="alerts sent at once after")
    parser.add_argument("--threads", type=int, default=4, help="worker threads of the server")
    args = parser.parse_args()

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"sb_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(tmp),
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_BROKER_URL": "memory://",
        "SWITCHBOARD_SECRET_KEY": "bench",
        "SWITCHBOARD_ALERTS_TOKEN": TOKEN,
        "SWITCHBOARD_WORKER_THREADS": str(args.threads),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_HTTP_PORT": str(free_port()),
        "SWITCHBOARD_SMTP_PORT": str(free_port()),
    }
    server: subprocess.Popen[bytes] | None = None
    ctx = None
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("SWITCHBOARD_")})
        settings = load_settings()
        migrate(settings)
        ctx = build_context(settings)
        now = datetime.now(UTC)
        # Reference rows through the core: contacts with identities, an agent, a real
        # ticket whose running SLA clocks the bulk tickets copy.
        with ctx.db.transaction() as s:
            sample = actions.open_ticket(
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
                identity = Identity(
                    kind="email", address=f"client{i}@bench.example", contact=contact
                )
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
        print(f"bulk-loading at scale {args.scale:g} with COPY ...", flush=True)
        started = time.perf_counter()
        counts = bulk_load(url, args.scale, refs, now)
        print(
            f"  {time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items()),
            flush=True,
        )

        rng = random.Random(11)
        with ctx.db.reading() as s:
            lo, hi = s.execute(select(func.min(Ticket.id), func.max(Ticket.id))).one()
            hot = s.execute(select(Asset).order_by(Asset.id).limit(1)).scalar_one()
            hot_id = hot.id
            tags = list(s.execute(select(Asset.tag).order_by(Asset.id).limit(5000)).scalars())

        # 1. Ticket context
        def show(ticket_id: int) -> None:
            with ctx.db.reading() as s:
                ticket = s.get(Ticket, ticket_id)
                assert ticket is not None
                data = context.assemble(ctx, s, ticket)
                assert data["thread"]

        def bare(_: int) -> None:
            with ctx.db.reading() as s:
                s.execute(text("SELECT 1")).scalar_one()

        time_calls(bare, list(range(50)))
        bare_ms = time_calls(bare, list(range(args.samples)))
        picks = [rng.randint(lo + 1, hi) for _ in range(args.samples)]
        time_calls(show, picks[:50])  # warm the connection pool and caches
        ticket_ms = time_calls(show, picks)
        card_ms = time_calls(
            lambda t: _card(ctx, t), [rng.randint(lo + 1, hi) for _ in range(args.samples)]
        )

        # 2. Machine history
        def story(limit: int) -> Any:
            def run(_: int) -> None:
                with ctx.db.reading() as s:
                    asset = s.get(Asset, hot_id)
                    assert asset is not None
                    data = history.machine(s, asset, limit=limit)
                    assert data["tickets_total"] >= HOT_TICKETS

            return run

        time_calls(story(50), list(range(20)))
        latest_ms = time_calls(story(50), list(range(300)))
        full_ms = time_calls(story(1000), list(range(300)))

        # 3. Alert intake through `switchboard up` in another process
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "switchboard"), "up"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{env['SWITCHBOARD_HTTP_PORT']}"
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        endpoint = f"{base}/alerts/alertmanager"
        with ctx.db.reading() as s:
            mark = s.execute(select(func.coalesce(func.max(InboundRecord.id), 0))).scalar_one()
        total = int(args.rate * args.seconds)
        bodies, fired = [], []
        at = datetime.now(UTC)
        for n in range(1, total + 1):
            if n % 10 == 0 and fired:
                k = fired.pop(rng.randrange(len(fired)))
                bodies.append(alert_body(k, "resolved", tags[k % len(tags)], at))
            else:
                fired.append(n)
                bodies.append(alert_body(n, "firing", tags[n % len(tags)], at))
        answer_ms, statuses, took = asyncio.run(offer(endpoint, bodies, args.rate))
        complete = wait_decided(ctx, mark, total, 300)
        lags, span, records, bad = decided(ctx, mark)

        with ctx.db.reading() as s:
            mark2 = s.execute(select(func.max(InboundRecord.id))).scalar_one()
        burst = [
            alert_body(1_000_000 + n, "firing", tags[n % len(tags)], at) for n in range(args.burst)
        ]
        burst_ms, burst_statuses, burst_took = asyncio.run(offer(endpoint, burst, None))
        burst_complete = wait_decided(ctx, mark2, args.burst, 600)
        _, burst_span, burst_records, burst_bad = decided(ctx, mark2)

        print()
        print(
            f"Ticket context benchmark: PostgreSQL, {counts['tickets']:,} tickets, "
            f"{counts['messages']:,} messages, {counts['assets']:,} assets"
        )
        print(
            f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
            + summary("a bare read (session, SELECT 1)", bare_ms).strip()
        )
        print(summary("ticket context (assemble, full)", ticket_ms, 25))
        print(summary("ticket card context (assemble, card)", card_ms))
        print(summary(f"machine history, {HOT_TICKETS:,}-ticket machine, latest 50", latest_ms, 25))
        print(summary(f"machine history, {HOT_TICKETS:,}-ticket machine, all 1,000", full_ms, 25))
        print(
            f"Alert intake: {total:,} alerts offered at {args.rate:g}/s over {took:.1f} s "
            f"(switchboard up, {args.threads} worker threads, one alert per notification)"
        )
        print(summary("  answer latency", answer_ms) + f"; statuses {sorted(set(statuses))}")
        if lags:
            print(
                f"    stored to decided: p50 {percentile(lags, 0.5) * 1000:.0f} ms, p99 "
                f"{percentile(lags, 0.99) * 1000:.0f} ms; {records:,} decided in {span:.1f} s "
                f"= {records / span:.0f} alerts/s kept{'' if complete else ' (NOT all decided)'}"
            )
        if bad:
            print(f"    not applied: {bad}")
        print(
            f"  burst: {args.burst:,} alerts from 16 connections: answered in {burst_took:.1f} s "
            f"({args.burst / burst_took:.0f}/s), answer p99 {percentile(burst_ms, 0.99):.0f} ms; "
            f"decided in {burst_span:.1f} s = {burst_records / burst_span:.0f} alerts/s"
            f"{'' if burst_complete else ' (NOT all decided)'}; statuses {sorted(set(burst_statuses))}"
        )
        if burst_bad:
            print(f"    not applied: {burst_bad}")
        return 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if ctx is not None:
            ctx.db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _card(ctx: Any, ticket_id: int) -> None:
    with ctx.db.reading() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        context.assemble(ctx, s, ticket, full=False)


if __name__ == "__main__":
    sys.exit(main())
