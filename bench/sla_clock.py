"""Benchmark: the SLA clock tick over 1,000,000 open tickets, and breach-to-first-ping latency.

    .venv/bin/python bench/sla_clock.py [--tickets 1000000] [--due 1000]

Creates a throwaway PostgreSQL database (SWITCHBOARD_TEST_POSTGRES_URL's server),
migrates it, bulk-loads open tickets with COPY (their checkpoints spread over the
next ten days), and opens ``--due`` P1 tickets through the real core actions so
that their response targets break at one instant. Then:

1. latency: workers and the clock run (tick every ``--interval`` seconds); for each
   breached ticket, the time from its deadline to the first escalation ping handed
   to the channel (an in-memory sender standing in for Slack/Telegram/email).
2. tick: with ``--due`` tickets at a passed checkpoint, the time of one clock tick
   (claim with FOR UPDATE SKIP LOCKED, push the lease, enqueue one job per ticket).

The database is dropped at the end. Prints both figures against the targets
(tick under 250 ms; p99 latency under 5 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config.runtime import System, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core import actions, slawatch  # noqa: E402
from core.models import Agent, AuditEvent, Escalation, Contact, Identity, OutboxDelivery, Ticket  # noqa: E402
from core.principals import system  # noqa: E402
from core.values import Outbound  # noqa: E402

POSTGRES_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

POLICY = """
[escalation.chains.default]
repeat = true
steps = [
  { wait_minutes = 0, notify = "oncall", channels = ["slack"] },
  { wait_minutes = 5, notify = "group:admins", channels = ["email"] },
]

[[oncall_rotations]]
name = "primary"
handoff = "daily"
start = "2026-01-01"
agents = ["oncall@support.example"]
"""


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


class OffsetClock:
    """Real time, shifted: the system believes it is ``base`` at ``started``."""

    def __init__(self, base: datetime) -> None:
        self.offset = base - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def bulk_load(url: str, count: int, contact_id: int, identity_id: int, queue_id: int, category_id: int, now: datetime) -> float:
    """COPY ``count`` open tickets whose next checkpoints lie in the next ten days."""
    import psycopg

    started = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    columns = ("subject", "status", "priority", "priority_reason", "category_id", "queue_id", "contact_id", "channel",
               "reply_identity_id", "tracking_token", "escalated", "sla_policy", "next_checkpoint_at", "created_at", "updated_at")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY tickets ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(count):
                created = now - timedelta(seconds=i % 86_400)
                checkpoint = now + timedelta(minutes=30 + (i * 7919) % (10 * 24 * 60))
                copy.write_row((f"Bulk ticket {i}", "new", "P3", "default", category_id, queue_id, contact_id, "fake",
                                identity_id, f"bulk-{i}", False, "P3", checkpoint, created, created))
        conn.commit()
        cur.execute("ANALYZE tickets")
        conn.commit()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(share * len(ordered) + 0.5)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000, help="open tickets in the database")
    parser.add_argument("--due", type=int, default=1_000, help="how many of them break their target at once")
    parser.add_argument("--interval", type=float, default=1.0, help="clock tick interval, seconds")
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--lead", type=float, default=2.0, help="seconds between moving the clock to just before the breach and the breach")
    args = parser.parse_args()

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"sb_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    (tmp / "policy.toml").write_text(POLICY)
    sysobj = None
    try:
        settings = load_settings(data_dir=tmp, database_url=url, secret_key="bench", broker_url="memory://",
                                 worker_threads=args.threads, clock_interval_seconds=args.interval, config_file=tmp / "policy.toml")
        migrate(settings)
        sysobj = System(settings)
        ctx = sysobj.ctx
        sender = MemorySender()
        sysobj.senders["fake"] = sender
        sysobj.senders["slack"] = sender
        sysobj.senders["email"] = sender

        # The system's time: the due tickets are opened "15 minutes before" the breach.
        breach_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        opened_at = breach_at - timedelta(minutes=15)
        ctx.now = lambda: opened_at
        with ctx.db.transaction() as s:
            s.add(Agent(name="On call", email="oncall@support.example", roles=["agent"], preferences={"channels": ["fake"], "addresses": {"fake": "oncall-pager"}}))
            contact = Contact(name="Bulk client")
            s.add(contact)
            s.flush()
            identity = Identity(contact_id=contact.id, kind="fake", address="bulk-client")
            s.add(identity)
            s.flush()
            from core.models import Category, SupportQueue

            queue_id = s.execute(select(SupportQueue.id).where(SupportQueue.slug == "support")).scalar_one()
            category_id = s.execute(select(Category.id).where(Category.slug == "general")).scalar_one()
            contact_id, identity_id = contact.id, identity.id

        print(f"opening {args.due} P1 tickets through the core actions ...", flush=True)
        started = time.perf_counter()
        due_ids = []
        for i in range(args.due):
            with ctx.db.transaction() as s:
                t = actions.open_ticket(ctx, s, system("bench"), subject=f"Line {i} is down", text="Conveyor stopped.",
                                        requester=("fake", f"plant-{i}", "Client"), priority="P1", send_ack=False)
                due_ids.append(t.id)
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        bulk = args.tickets - args.due
        print(f"bulk-loading {bulk:,} more open tickets with COPY ...", flush=True)
        print(f"  {bulk_load(url, bulk, contact_id, identity_id, queue_id, category_id, opened_at):.1f} s", flush=True)
        with ctx.db.reading() as s:
            total = s.execute(select(func.count()).select_from(Ticket).where(Ticket.status == "new")).scalar_one()
            plan = "\n    ".join(r[0] for r in s.execute(text(
                "EXPLAIN SELECT id FROM tickets WHERE next_checkpoint_at <= now() + interval '1 day' "
                "ORDER BY next_checkpoint_at LIMIT 1000 FOR UPDATE SKIP LOCKED")))
        print(f"open tickets: {total:,}; claim query plan:\n    {plan}", flush=True)

        # 1. Breach-to-first-ping latency, with workers and the clock running. First the
        # at-risk warnings (due 3 min 45 s before the breach for a P1) go out, then the
        # clock is moved to just before the breach instant.
        risk_at = opened_at + timedelta(minutes=15 * 0.75)
        ctx.now = OffsetClock(risk_at)
        sysobj.start_workers()
        clock = sysobj.make_clock()
        clock.start_thread()
        started = time.perf_counter()
        while time.perf_counter() - started < 180:
            with ctx.db.reading() as s:
                warned = s.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("sla_at_risk%"))).scalar_one()
            if warned >= args.due:
                break
            time.sleep(0.5)
        print(f"at-risk warnings for {warned} tickets: {time.perf_counter() - started:.1f} s", flush=True)
        ctx.now = OffsetClock(breach_at - timedelta(seconds=args.lead))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with ctx.db.reading() as s:
                pinged = s.execute(select(func.count(func.distinct(OutboxDelivery.ticket_id))).where(
                    OutboxDelivery.kind == "escalation", OutboxDelivery.status == "sent")).scalar_one()
            if pinged >= args.due:
                break
            time.sleep(0.2)
        clock.stop()
        with ctx.db.reading() as s:
            rows = s.execute(
                select(OutboxDelivery.ticket_id, func.min(OutboxDelivery.sent_at))
                .where(OutboxDelivery.kind == "escalation", OutboxDelivery.status == "sent")
                .group_by(OutboxDelivery.ticket_id)
            ).all()
            due = dict(s.execute(select(Ticket.id, Ticket.response_due_at).where(Ticket.id.in_(due_ids))).all())
        latencies = [(sent - due[tid]).total_seconds() for tid, sent in rows if tid in due]
        with ctx.db.reading() as s:
            started_rows = s.execute(select(Escalation.ticket_id, Escalation.started_at)).all()
            created_rows = s.execute(select(OutboxDelivery.ticket_id, OutboxDelivery.created_at).where(OutboxDelivery.kind == "escalation")).all()
        escalated = [(at - due[tid]).total_seconds() for tid, at in started_rows if tid in due]
        queued = [(at - due[tid]).total_seconds() for tid, at in created_rows if tid in due]
        sysobj.worker.stop(timeout=10_000)  # type: ignore[union-attr]
        sysobj.worker = None

        # 2. One clock tick with args.due tickets at a passed checkpoint (jobs enqueued, not run).
        timings = []
        for _ in range(7):
            with ctx.db.transaction() as s:
                s.execute(update(Ticket).where(Ticket.id.in_(due_ids)).values(next_checkpoint_at=ctx.now() - timedelta(seconds=1)))
            started = time.perf_counter()
            claimed = slawatch.tick(ctx)
            timings.append((time.perf_counter() - started) * 1000)
            sysobj.broker.dramatiq.flush_all()  # type: ignore[attr-defined]
            assert claimed == args.due, claimed

        print()
        print(f"SLA clock benchmark: PostgreSQL, {total:,} open tickets, {args.due:,} due, "
              f"{args.threads} worker threads, tick every {args.interval:g} s")
        print(f"  one clock tick ({args.due:,} due): median {statistics.median(timings):.0f} ms, "
              f"max {max(timings):.0f} ms  (target < 250 ms)")
        if len(latencies) < args.due:
            print(f"  breach-to-first-ping: only {len(latencies)} of {args.due} tickets pinged within 180 s")
        if latencies:
            print(f"  breach-to-first-ping latency: p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
                  f"max {max(latencies):.2f} s over {len(latencies):,} breaches  (target p99 < 5 s)")
        if escalated:
            print(f"  (breach to escalation started: p50 {percentile(escalated, 0.5):.2f} s, p99 {percentile(escalated, 0.99):.2f} s; "
                  f"to ping queued: p99 {percentile(queued, 0.99):.2f} s)")
        return 0
    finally:
        if sysobj is not None:
            sysobj.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
