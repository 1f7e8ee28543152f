"""Benchmark: the SLA clock tick over 1,000,000 open tickets, and breach-to-first-ping latency.

    .venv/bin/python bench/sla_clock.py [--tickets 1000000] [--due 1000] [--processes N]

Creates a throwaway PostgreSQL database (on SWITCHBOARD_TEST_POSTGRES_URL's server),
migrates it, bulk-loads open tickets with COPY (their checkpoints spread over the
next ten days), and opens ``--due`` P1 tickets through the real core actions so
that their response targets all break at one instant, half a minute ahead. Then:

1. latency: the clock (this process, a tick every ``--interval`` seconds) and the
   workers run in real time: worker threads in this process on the in-process
   broker (the embedded deployment), or with ``--processes N`` that many worker
   processes on Redis (SWITCHBOARD_TEST_REDIS_URL; the scaled deployment). The
   at-risk warnings go out first, then the breach comes. For each breached ticket:
   the time from its deadline to its first escalation ping handed to the channel
   (an in-memory sender stands in for Slack, Telegram and email).
2. tick: with ``--due`` tickets at a passed checkpoint, the time of one clock tick
   (claim with FOR UPDATE SKIP LOCKED, push the lease, enqueue the jobs).

The database is dropped (and the broker queues flushed) at the end. Prints both
figures against the targets: a tick under 250 ms, latency p99 under 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text, update  # noqa: E402

from bench.support import (  # noqa: E402
    REDIS_URL,
    ScratchDatabase,
    copy_rows,
    percentile,
    psycopg_dsn,
)
from config.runtime import System, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.models import (  # noqa: E402
    Agent,
    Category,
    Contact,
    DeliveryStatus,
    Escalation,
    Identity,
    OutboxDelivery,
    SupportQueue,
    Ticket,
    TicketStatus,
)
from core.principals import system  # noqa: E402
from core.sla import watch as slawatch
from core.tickets import opening  # noqa: E402
from core.values import Outbound  # noqa: E402
from tests.sla_support import chain_toml  # noqa: E402

POLICY = (
    chain_toml((0, "oncall", "slack"), (5, "group:admins", "email"), every=None)
    + """

[[oncall_rotations]]
name = "primary"
handoff = "daily"
start = "2026-01-01"
agents = ["oncall@support.example"]
"""
)


class MemorySender:
    """Stands in for a chat channel: records when each ping was handed over."""

    channel = "fake"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, tuple[str, str]] = {}

    def send(self, out: Outbound) -> str:
        with self.lock:
            self.sent.setdefault(out.key, (out.kind, out.recipient))
        return f"mem-{out.key}"


def bulk_load(
    url: str,
    count: int,
    contact_id: int,
    identity_id: int,
    queue_id: int,
    category_id: int,
    now: datetime,
) -> float:
    """COPY ``count`` open tickets whose next checkpoints lie in the next ten days."""
    import psycopg

    started = time.perf_counter()
    columns = (
        "subject",
        "status",
        "priority",
        "priority_reason",
        "category_id",
        "queue_id",
        "contact_id",
        "channel",
        "requester_identity_id",
        "reply_identity_id",
        "tracking_token",
        "escalated",
        "sla_policy",
        "next_checkpoint_at",
        "created_at",
        "updated_at",
    )

    def row(i: int) -> tuple[object, ...]:
        created = now - timedelta(seconds=i % 86_400)
        checkpoint = now + timedelta(minutes=30 + (i * 7919) % (10 * 24 * 60))
        return (
            f"Bulk ticket {i}",
            TicketStatus.NEW.value,
            "P3",
            "default",
            category_id,
            queue_id,
            contact_id,
            "fake",
            identity_id,
            identity_id,
            f"bulk-{i}",
            False,
            "P3",
            checkpoint,
            created,
            created,
        )

    with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
        copy_rows(cur, "tickets", columns, (row(i) for i in range(count)))
        conn.commit()
        cur.execute("ANALYZE tickets")
        conn.commit()
    return time.perf_counter() - started


def run_worker() -> int:
    """A worker process of the scaled deployment (settings from the environment), with
    the in-memory sender standing in for the chat channels."""
    import signal

    settings = load_settings()
    sysobj = System(settings)
    sender = MemorySender()
    for channel in ("fake", "slack", "email", "telegram"):
        sysobj.senders[channel] = sender
    sysobj.start_workers()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    sysobj.stop()
    return 0


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tickets", type=int, default=1_000_000, help="open tickets in the database"
    )
    parser.add_argument(
        "--due", type=int, default=1_000, help="how many of them break their target at once"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="clock tick interval, seconds")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="worker processes (0: worker threads in this process, in-process broker)",
    )
    parser.add_argument("--threads", type=int, default=8, help="worker threads per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker()

    database = ScratchDatabase()
    url = database.url
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    (tmp / "policy.toml").write_text(POLICY)
    broker_url = REDIS_URL if args.processes else "memory://"
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(tmp),
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_BROKER_URL": broker_url,
        "SWITCHBOARD_BROKER_QUEUE": f"sbbench-{uuid.uuid4().hex[:8]}",
        "SWITCHBOARD_SECRET_KEY": "bench",
        "SWITCHBOARD_CONFIG_FILE": str(tmp / "policy.toml"),
        "SWITCHBOARD_WORKER_THREADS": str(args.threads),
        "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": str(args.interval),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    sysobj = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("SWITCHBOARD_")})
        settings = load_settings()
        migrate(settings)
        sysobj = System(settings)  # this process is the clock
        ctx = sysobj.ctx
        sender = MemorySender()
        for channel in ("fake", "slack", "email", "telegram"):
            sysobj.senders[channel] = sender
        real_now = ctx.now
        with ctx.db.transaction() as s:
            s.add(
                Agent(
                    name="On call",
                    email="oncall@support.example",
                    roles=["agent"],
                    preferences={"channels": ["fake"], "addresses": {"fake": "oncall-pager"}},
                )
            )
            contact = Contact(name="Bulk client")
            s.add(contact)
            s.flush()
            identity = Identity(contact_id=contact.id, kind="fake", address="bulk-client")
            s.add(identity)
            s.flush()
            queue_id = s.execute(
                select(SupportQueue.id).where(SupportQueue.slug == "support")
            ).scalar_one()
            category_id = s.execute(
                select(Category.id).where(Category.slug == "general")
            ).scalar_one()
            contact_id, identity_id = contact.id, identity.id
        bulk = args.tickets - args.due
        print(f"bulk-loading {bulk:,} open tickets with COPY ...", flush=True)
        print(
            f"  {bulk_load(url, bulk, contact_id, identity_id, queue_id, category_id, real_now()):.1f} s",
            flush=True,
        )

        # The due tickets are opened "15 minutes before" an instant a little ahead, so
        # that they all break their response target then, in real time.
        lead = timedelta(seconds=30 + args.due * 0.02)
        breach_at = real_now() + lead
        opened_at = breach_at - timedelta(minutes=15)
        ctx.now = lambda: opened_at
        print(f"opening {args.due} P1 tickets through the core actions ...", flush=True)
        started = time.perf_counter()
        due_ids = []
        for i in range(args.due):
            with ctx.db.transaction() as s:
                t = opening.open_ticket(
                    ctx,
                    s,
                    system("bench"),
                    subject=f"Line {i} is down",
                    text="Conveyor stopped.",
                    requester=("fake", f"plant-{i}", "Client"),
                    priority="P1",
                    send_ack=False,
                )
                due_ids.append(t.id)
        ctx.now = real_now
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        with ctx.db.reading() as s:
            total = s.execute(
                select(func.count()).select_from(Ticket).where(Ticket.status == TicketStatus.NEW)
            ).scalar_one()
            plan = "\n    ".join(
                r[0]
                for r in s.execute(
                    text(
                        "EXPLAIN SELECT id FROM tickets WHERE next_checkpoint_at <= now() "
                        "ORDER BY next_checkpoint_at LIMIT 1000 FOR UPDATE SKIP LOCKED"
                    )
                )
            )
        print(f"open tickets: {total:,}; claim query plan:\n    {plan}", flush=True)

        # 1. Breach-to-first-ping latency: workers and the clock running; the at-risk
        # warnings (already due) go out first, then the breach comes.
        if args.processes:
            workers = [
                subprocess.Popen([sys.executable, __file__, "--worker"], env=env)
                for _ in range(args.processes)
            ]
        else:
            sysobj.start_workers()
        clock = sysobj.make_clock()
        clock.start_thread()
        left = (breach_at - real_now()).total_seconds()
        print(
            f"clock and {args.processes or 'in-process'} worker(s) running; the breach comes in {left:.0f} s",
            flush=True,
        )

        def all_pinged() -> bool:
            with ctx.db.reading() as s:
                pinged = s.execute(
                    select(func.count(func.distinct(OutboxDelivery.ticket_id))).where(
                        OutboxDelivery.kind == "escalation",
                        OutboxDelivery.status == DeliveryStatus.SENT,
                    )
                ).scalar_one()
            return int(pinged) >= args.due

        complete = wait_for(all_pinged, left + 180)
        clock.stop()
        with ctx.db.reading() as s:
            rows = s.execute(
                select(OutboxDelivery.ticket_id, func.min(OutboxDelivery.sent_at))
                .where(
                    OutboxDelivery.kind == "escalation",
                    OutboxDelivery.status == DeliveryStatus.SENT,
                )
                .group_by(OutboxDelivery.ticket_id)
            ).all()
            due: dict[int, datetime] = {
                tid: at
                for tid, at in s.execute(
                    select(Ticket.id, Ticket.response_due_at).where(Ticket.id.in_(due_ids))
                ).all()
                if at
            }
            started_rows = s.execute(select(Escalation.ticket_id, Escalation.started_at)).all()
        latencies = [(sent - due[tid]).total_seconds() for tid, sent in rows if tid in due and sent]
        escalated = [(at - due[tid]).total_seconds() for tid, at in started_rows if tid in due]
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)
        workers = []
        if sysobj.worker is not None:
            sysobj.worker.stop(timeout=10_000)
            sysobj.worker = None

        # 2. One clock tick with args.due tickets at a passed checkpoint (jobs enqueued, not run).
        timings = []
        for _ in range(7):
            with ctx.db.transaction() as s:
                s.execute(
                    update(Ticket)
                    .where(Ticket.id.in_(due_ids))
                    .values(next_checkpoint_at=ctx.now() - timedelta(seconds=1))
                )
            started = time.perf_counter()
            claimed = slawatch.tick(ctx)
            timings.append((time.perf_counter() - started) * 1000)
            sysobj.broker.dramatiq.flush_all()
            assert claimed == args.due, claimed

        where = (
            f"{args.processes} worker processes x {args.threads} threads (Redis broker)"
            if args.processes
            else f"{args.threads} worker threads in-process"
        )
        print()
        print(
            f"SLA clock benchmark: PostgreSQL, {total:,} open tickets, {args.due:,} due; {where}; tick every {args.interval:g} s"
        )
        print(
            f"  one clock tick ({args.due:,} due): median {statistics.median(timings):.0f} ms, "
            f"max {max(timings):.0f} ms  (target < 250 ms)"
        )
        if not complete:
            print(
                f"  breach-to-first-ping: only {len(latencies)} of {args.due} tickets pinged in time"
            )
        if latencies:
            print(
                f"  breach-to-first-ping latency: p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
                f"max {max(latencies):.2f} s over {len(latencies):,} breaches  (target p99 < 5 s)"
            )
        if escalated:
            print(
                f"  (breach to escalation started: p50 {percentile(escalated, 0.5):.2f} s, p99 {percentile(escalated, 0.99):.2f} s)"
            )
        return 0
    finally:
        for proc in workers:
            proc.kill()
        if sysobj is not None:
            try:
                sysobj.broker.dramatiq.flush_all()  # leave nothing behind on a shared broker
                client = getattr(sysobj.broker.dramatiq, "client", None)
                if client is not None:  # Redis: also the ack sets of stopped worker processes
                    for key in client.scan_iter(match=f"*{env['SWITCHBOARD_BROKER_QUEUE']}*"):
                        client.delete(key)
            finally:
                sysobj.stop()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
