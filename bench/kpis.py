"""Benchmark: the KPI figures over 1,000,000 tickets on PostgreSQL (goal: under 1 s).

    .venv/bin/python bench/kpis.py [--tickets 1000000] [--runs 5]

Creates a throwaway PostgreSQL database (on SWITCHBOARD_TEST_POSTGRES_URL's server),
migrates it, and generates the data in SQL (``generate_series``, not through the
app): ``--tickets`` tickets spread over the last 365 days, with 20 agents, the
default queues and categories, and a facts row each (``ticket_facts``, what the
KPIs read): four in five answered (first response 5 minutes to 2 days after
opening), seven in ten resolved (to 10 days), SLA outcomes met, breached or running,
one in twelve reopened, one in fifteen escalated, one in five rated 1 to 5.

Then, each ``--runs`` times, as a lead would ask for them over the whole year (all
tickets): ``core.kpis.report.kpis`` (the JSON API's and ``report kpis``'s figures),
``GET /leads/kpis`` (figures, seven SVG charts and the table, as HTML), ``GET
/leads/kpis.csv``, and ``GET /metrics`` (which counts the open tickets by SLA state
and by queue). Prints min, median and max of each. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.support import ScratchDatabase  # noqa: E402
from channels.web.app import create_app  # noqa: E402
from config.runtime import build_context, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.kpis import report  # noqa: E402
from core.tokens import staff_token  # noqa: E402

# One statement per table; every figure derives from the row number i, so a run is
# repeatable. :n tickets, :agents agents (ids from :first_agent), opened over a year.
SETUP = """
INSERT INTO contacts (name, created_at) VALUES ('Bench client', now());
INSERT INTO agents (name, email, roles, preferences, active, created_at)
SELECT 'Agent ' || g, 'agent' || g || '@bench.example', '["agent"]', '{}', true, now()
FROM generate_series(1, :agents) g;
"""
TICKETS = """
INSERT INTO tickets (id, subject, status, priority, priority_reason, category_id, queue_id,
    contact_id, assignee_id, channel, tracking_token, escalated, created_at, updated_at)
SELECT i, 'Ticket ' || i,
    CASE WHEN i % 10 < 7 THEN 'closed' WHEN i % 10 = 7 THEN 'resolved'
         WHEN i % 10 = 8 THEN 'in_progress' ELSE 'new' END,
    'P' || (1 + i % 4), '', (SELECT min(id) FROM categories) + i % :categories,
    (SELECT min(id) FROM queues) + i % :queues, (SELECT min(id) FROM contacts),
    CASE WHEN i % 10 = 9 THEN NULL ELSE :first_agent + i % :agents END,
    'email', 'bench-' || i, i % 15 = 0,
    :start + (i * interval '365 days' / :n), :start + (i * interval '365 days' / :n)
FROM generate_series(1, :n) i;
"""
FACTS = """
INSERT INTO ticket_facts (ticket_id, opened_at, priority, queue_id, category_id, assignee_id,
    first_response_at, resolved_at, response_sla, resolution_sla, response_due_at,
    resolution_due_at, reopens, escalations, rating, fixed)
SELECT t.id, t.created_at, t.priority, t.queue_id, t.category_id, t.assignee_id,
    CASE WHEN t.id % 5 <> 0 THEN t.created_at + ((5 + (t.id * 37) % 2875) * interval '1 minute') END,
    CASE WHEN t.id % 10 < 8 THEN t.created_at + ((30 + (t.id * 53) % 14400) * interval '1 minute') END,
    CASE WHEN t.id % 5 = 0 THEN NULL WHEN t.id % 9 = 0 THEN 'breached' ELSE 'met' END,
    CASE WHEN t.id % 10 >= 8 THEN NULL WHEN t.id % 7 = 0 THEN 'breached' ELSE 'met' END,
    CASE WHEN t.id % 5 = 0 THEN t.created_at + interval '4 hours' END,
    CASE WHEN t.id % 10 >= 8 THEN t.created_at + interval '1 day' END,
    CASE WHEN t.id % 12 = 0 THEN 1 ELSE 0 END,
    CASE WHEN t.id % 15 = 0 THEN 1 ELSE 0 END,
    CASE WHEN t.id % 5 = 1 THEN 1 + (t.id * 7) % 5 END,
    CASE WHEN t.id % 5 = 1 THEN (t.id * 7) % 5 <> 0 END
FROM tickets t;
"""


def timed(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def line(name: str, times: list[float], goal: float | None = None) -> str:
    verdict = ""
    if goal is not None:
        verdict = f"  (goal under {goal:.0f} s: {'met' if max(times) < goal else 'MISSED'})"
    return (
        f"  {name:<34} min {min(times) * 1000:7.0f} ms   median "
        f"{statistics.median(times) * 1000:7.0f} ms   max {max(times) * 1000:7.0f} ms{verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still drops the database

    database = ScratchDatabase("sb_bench_kpis")
    url = database.url
    ctx = None
    try:
        os.environ.update(
            {
                "SWITCHBOARD_DATA_DIR": tempfile.mkdtemp(prefix="sb-bench-kpis-"),
                "SWITCHBOARD_DATABASE_URL": url,
                "SWITCHBOARD_BROKER_URL": "memory://",
                "SWITCHBOARD_SECRET_KEY": "bench",
                "SWITCHBOARD_LOG_LEVEL": "WARNING",
            }
        )
        settings = load_settings()
        migrate(settings)
        ctx = build_context(settings)
        now = datetime.now(UTC)
        start = now - timedelta(days=365)
        print(f"generating {args.tickets:,} tickets with generate_series ...", flush=True)
        began = time.perf_counter()
        with ctx.db.engine.begin() as conn:
            conn.execute(text(SETUP.split(";")[0]))
            conn.execute(text(SETUP.split(";")[1]), {"agents": args.agents})
            first_agent = conn.execute(text("SELECT min(id) FROM agents")).scalar_one()
            queues = conn.execute(text("SELECT count(*) FROM queues")).scalar_one()
            categories = conn.execute(text("SELECT count(*) FROM categories")).scalar_one()
            conn.execute(
                text(TICKETS),
                {
                    "n": args.tickets,
                    "agents": args.agents,
                    "first_agent": first_agent,
                    "queues": queues,
                    "categories": categories,
                    "start": start,
                },
            )
            conn.execute(text(FACTS))
            conn.execute(
                text(
                    "INSERT INTO agents (name, email, roles, preferences, active, created_at)"
                    " VALUES ('Bench Lead', 'lead@bench.example', '[\"lead\"]', '{}', true, now())"
                )
            )
        with ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE tickets"))
            conn.execute(text("VACUUM ANALYZE ticket_facts"))
            lead = conn.execute(
                text("SELECT id FROM agents WHERE email = 'lead@bench.example'")
            ).scalar_one()
        print(f"  {time.perf_counter() - began:.0f} s", flush=True)

        since, until = now - timedelta(days=366), now + timedelta(minutes=1)

        def figures() -> dict[str, Any]:
            with ctx.db.reading() as session:
                return report.kpis(session, since, until, now)

        data = figures()
        assert data["total"]["tickets"] == args.tickets, data["total"]
        web = TestClient(create_app(ctx))
        web.get(f"/leads/login/{staff_token(ctx.secret, 'login', lead)}")
        query = {"since": since.isoformat(), "until": until.isoformat()}
        for path in ("/leads/kpis", "/leads/kpis.csv", "/metrics"):
            answer = web.get(path, params=query if path.startswith("/leads") else None)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])

        print(f"KPIs over {args.tickets:,} tickets (the whole year), {args.runs} runs each:")
        print(line("report.kpis (API, CLI)", timed(figures, args.runs), goal=1.0))
        for label, path in (
            ("GET /leads/kpis (dashboard)", "/leads/kpis"),
            ("GET /leads/kpis.csv", "/leads/kpis.csv"),
        ):
            print(line(label, timed(lambda p=path: web.get(p, params=query), args.runs), goal=1.0))
        print(line("GET /metrics", timed(lambda: web.get("/metrics"), args.runs)))
        t = data["total"]
        print(
            f"  figures: first response avg {t['first_response']['average_minutes']} min, "
            f"resolution avg {t['resolution']['average_minutes']} min, response SLA met "
            f"{t['sla']['response']['met_share']}, reopen rate {t['reopen']['rate']}, "
            f"escalation rate {t['escalation']['rate']}, rating {t['satisfaction']['average_rating']}"
        )
        return 0
    finally:
        if ctx is not None:
            ctx.db.dispose()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
