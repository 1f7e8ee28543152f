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
3. alert intake: what ``switchboard up`` runs (web app, workers and clock in one
   process) in another process on this database, without its migration; this
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
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from bench import machine_data  # noqa: E402
from bench.support import (  # noqa: E402
    REDIS_URL,
    ScratchDatabase,
    free_port,
    percentile,
    stop_roles,
)
from config.runtime import build_context, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.assets import history  # noqa: E402
from core.models import Asset, InboundRecord, Ticket  # noqa: E402
from core.tickets import context  # noqa: E402

TOKEN = "bench-alerts-token"


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


def start(deployment: str, env: dict[str, str], workers: int) -> list[subprocess.Popen[bytes]]:
    """The server of one deployment: ``embedded`` is what ``switchboard up`` runs (web
    app, workers and clock in one process); ``scaled`` is ``switchboard web`` and
    ``workers`` ``switchboard worker`` processes, on Redis."""
    if deployment == "embedded":
        return [subprocess.Popen([sys.executable, __file__, "--serve"], env=env)]
    command = str(Path(sys.executable).parent / "switchboard")
    roles = ["web"] + ["worker"] * workers
    return [subprocess.Popen([command, role], env=env) for role in roles]


def alert_intake(
    ctx: Any,
    env: dict[str, str],
    tags: list[str],
    args: argparse.Namespace,
    rng: random.Random,
    deployment: str,
    first: int,
) -> None:
    """Offer alerts at ``args.rate`` a second, then a burst; print what was measured.
    Alerts are numbered from ``first`` (their fingerprints)."""
    import httpx

    base = f"http://127.0.0.1:{env['SWITCHBOARD_HTTP_PORT']}"
    for _ in range(1200):
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
    bodies: list[bytes] = []
    fired: list[int] = []
    at = datetime.now(UTC)
    settled = int(args.rate * 10)  # alerts resolve ten seconds or more after they fired
    for n in range(first, first + total):
        if n % 10 == 0 and len(fired) > settled:
            k = fired.pop(rng.randrange(len(fired) - settled))
            bodies.append(alert_body(k, "resolved", tags[k % len(tags)], at))
        else:
            fired.append(n)
            bodies.append(alert_body(n, "firing", tags[n % len(tags)], at))
    answer_ms, statuses, took = asyncio.run(offer(endpoint, bodies, args.rate))
    complete = wait_decided(ctx, mark, total, 300)
    lags, span, records, bad = decided(ctx, mark)
    where = {
        "embedded": f"web app and {args.threads} worker threads in one process (switchboard up)",
        "scaled": (
            f"switchboard web, and {args.worker_processes} switchboard worker process(es) "
            f"({args.threads} threads each) on Redis"
        ),
    }[deployment]
    print(
        f"Alert intake, {deployment}: {total:,} alerts offered at {args.rate:g}/s over "
        f"{took:.1f} s ({where}; one alert per notification)"
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
    if args.burst <= 0:
        return

    with ctx.db.reading() as s:
        mark = s.execute(select(func.max(InboundRecord.id))).scalar_one()
    burst = [
        alert_body(n, "firing", tags[n % len(tags)], at)
        for n in range(first + total, first + total + args.burst)
    ]
    burst_ms, burst_statuses, burst_took = asyncio.run(offer(endpoint, burst, None))
    burst_complete = wait_decided(ctx, mark, args.burst, 600)
    _, burst_span, burst_records, burst_bad = decided(ctx, mark)
    print(
        f"  burst: {args.burst:,} alerts from 16 connections: answered in {burst_took:.1f} s "
        f"({args.burst / burst_took:.0f}/s), answer p99 {percentile(burst_ms, 0.99):.0f} ms; "
        f"decided in {burst_span:.1f} s = {burst_records / burst_span:.0f} alerts/s"
        f"{'' if burst_complete else ' (NOT all decided)'}; statuses {sorted(set(burst_statuses))}"
    )
    if burst_bad:
        print(f"    not applied: {burst_bad}")


def serve() -> int:
    """The server of the intake phase: what ``switchboard up`` runs (the web app, the
    workers and the clock in one process), without its migration, already done."""
    from config.cli.roles import serve as run

    run(load_settings(), "web", workers=True, clock=True)
    return 0


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
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=2,
        help="scaled: how many `switchboard worker` processes (the Procfile's worker role)",
    )
    parser.add_argument(
        "--deployment",
        choices=["embedded", "scaled", "both"],
        default="both",
        help="the server of the intake phase (scaled: web and worker processes on Redis)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve()
    # A stopped run still drops its database (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    database = ScratchDatabase()
    url = database.url
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
    ctx = None
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("SWITCHBOARD_")})
        settings = load_settings()
        migrate(settings)
        ctx = build_context(settings)
        now = datetime.now(UTC)
        refs = machine_data.reference_rows(ctx)
        print(f"bulk-loading at scale {args.scale:g} with COPY ...", flush=True)
        started = time.perf_counter()
        counts = machine_data.bulk_load(url, args.scale, refs, now)
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
                data = context.assemble(ctx, s, ticket_id)
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
                    assert data["tickets_total"] >= machine_data.HOT_TICKETS

            return run

        time_calls(story(50), list(range(20)))
        latest_ms = time_calls(story(50), list(range(300)))
        full_ms = time_calls(story(1000), list(range(300)))
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
        hot_tickets = f"{machine_data.HOT_TICKETS:,}-ticket machine"
        print(summary(f"machine history, {hot_tickets}, latest 50", latest_ms, 25))
        print(summary(f"machine history, {hot_tickets}, all 1,000", full_ms, 25), flush=True)

        # 3. Alert intake, the server in other processes
        deployments = ["embedded", "scaled"] if args.deployment == "both" else [args.deployment]
        for number, deployment in enumerate(deployments):
            run_env = env
            if deployment == "scaled":
                run_env = {
                    **env,
                    "SWITCHBOARD_BROKER_URL": REDIS_URL,
                    "SWITCHBOARD_BROKER_QUEUE": f"sbbench-{uuid.uuid4().hex[:8]}",
                }
            servers = start(deployment, run_env, args.worker_processes)
            try:
                alert_intake(ctx, run_env, tags, args, rng, deployment, 1 + number * 10_000_000)
            finally:
                stop_roles(servers, run_env)
        return 0
    finally:
        if ctx is not None:
            ctx.db.dispose()
        database.drop()


def _card(ctx: Any, ticket_id: int) -> None:
    with ctx.db.reading() as s:
        context.assemble(ctx, s, ticket_id, full=False)


if __name__ == "__main__":
    sys.exit(main())
