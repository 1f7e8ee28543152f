"""What deciding a stored mail costs, in one thread, with nothing else running.

Run: .venv/bin/python bench/decide_cost.py [--messages 600] [--batch 50] [--runs 3] [--profile]

The embedded SMTP edge of a scratch Switchboard (SQLite, no workers) stores the corpus of
bench/smtp_intake.py (its earlier mail is decided first, so that 30% of the timed mail
are replies to tickets that exist); then this process decides the stored records in
batches of ``--batch`` as a worker does (``process_many`` with the acknowledgements
held) and sends the held acknowledgements (``deliver_many``, to the maildir), timing
each with ``time.thread_time``. Printed for each run: CPU per message deciding and
delivering, and per message the SQL statements, the ORM flushes and the rows written
by table. ``--profile``: the first run under cProfile (its times are inflated, and
not printed), the decide phase's own time by layer (SQLAlchemy, the stdlib's email and
re, Switchboard, SQLite's engine, the rest).

Steadier than the throughput benchmark for comparing two versions of the decide path:
one thread, no SMTP clients, no thread hand-offs; statements, flushes and rows are
counts and do not move with the machine's load.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.smtp_intake import Clients, corpus, start_switchboard  # noqa: E402
from config.runtime import System  # noqa: E402
from core.intake.decide import process_many  # noqa: E402
from core.models import InboundRecord, InboundStatus  # noqa: E402
from tests.harness import pending_records  # noqa: E402
from workers.jobs import deliver_many  # noqa: E402

WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.IGNORECASE)
LAYERS = (
    ("SQLAlchemy", "/sqlalchemy/"),
    ("stdlib email and re", "/email/", "/re/"),
    ("Switchboard", "/core/", "/channels/", "/workers/", "/config/"),
    ("SQLite's engine", "sqlite3.Cursor", "sqlite3.Connection"),
)


class Counts:
    """Statements, flushes and rows written while ``on``."""

    def __init__(self, system: System) -> None:
        self.on = False
        self.statements = 0
        self.flushes = 0
        self.rows: collections.Counter[str] = collections.Counter()
        event.listen(system.ctx.db.engine, "before_cursor_execute", self._statement)
        event.listen(Session, "before_flush", self._flush)

    def _statement(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if not self.on:
            return
        self.statements += 1
        write = WRITE.match(statement)
        if write:
            kind = write.group(1).split()[0].lower()
            batch = many and params and isinstance(params[0], (tuple, list, dict))
            self.rows[f"{kind} {write.group(2)}"] += len(params) if batch else _rows_in(statement)

    def _flush(self, session: Session, flush_context: Any, instances: Any) -> None:
        if self.on and (session.new or session.dirty or session.deleted):
            self.flushes += 1


def _rows_in(statement: str) -> int:
    """Rows one statement writes: an INSERT of several VALUES groups (SQLAlchemy's
    "insertmanyvalues" batches) writes one a group."""
    values = statement.upper().split(" VALUES ", 1)
    return values[1].count("), (") + 1 if len(values) == 2 else 1


def stored(system: System, clients: Clients, port: int, earlier: Any, timed: Any) -> list[int]:
    """Store the corpus; the earlier mail decided, the timed mail's record ids pending."""

    def pending_ids() -> list[int]:
        with system.ctx.db.reading() as session:
            return list(
                session.execute(
                    select(InboundRecord.id)
                    .where(InboundRecord.status == InboundStatus.PENDING)
                    .order_by(InboundRecord.id)
                ).scalars()
            )

    clients.blast(port, earlier)  # every mail is stored when blast returns (250 after the commit)
    decide_all(system, pending_ids(), 50)
    clients.blast(port, timed)
    ids = pending_ids()
    assert len(ids) == len(timed), f"{len(ids)} of {len(timed)} stored"
    return ids


def decide_all(system: System, ids: list[int], batch: int) -> tuple[float, float]:
    """Decide ``ids`` in batches, sending each batch's acknowledgements after it: the
    CPU seconds spent deciding, and sending."""
    deciding = sending = 0.0
    for i in range(0, len(ids), batch):
        held: list[int] = []
        began = time.thread_time()
        process_many(system.ctx, ids[i : i + batch], held)
        decided = time.thread_time()
        deliver_many(held)
        deciding += decided - began
        sending += time.thread_time() - decided
    return deciding, sending


def by_layer(profile: cProfile.Profile) -> dict[str, float]:
    """The profile's own time (tottime) by layer, as shares of the whole."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    times: collections.Counter[str] = collections.Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename} {name}"
        layer = next((ly[0] for ly in LAYERS if any(p in where for p in ly[1:])), "the rest")
        times[layer] += tottime
    total = sum(times.values()) or 1.0
    return {layer: t / total for layer, t in times.most_common()}


def run(n: int, batch: int, profile: bool) -> None:
    earlier, timed = corpus(n)
    clients = Clients(8)
    root = Path(tempfile.mkdtemp(prefix="decide-cost-"))
    system, port = start_switchboard(root, threads=1, workers=False)
    try:
        ids = stored(system, clients, port, earlier, timed)
        counts = Counts(system)
        prof = cProfile.Profile() if profile else None
        counts.on = True
        if prof is not None:
            prof.enable()
        deciding, sending = decide_all(system, ids, batch)
        if prof is not None:
            prof.disable()
        counts.on = False
        with system.ctx.db.reading() as session:
            left = pending_records(session)
            outcomes = dict(
                session.execute(
                    select(InboundRecord.outcome, func.count())
                    .where(InboundRecord.id.in_(ids))
                    .group_by(InboundRecord.outcome)
                ).all()
            )
        assert left == 0, f"{left} records left pending"
        if prof is not None:
            shares = ", ".join(f"{layer} {share:.0%}" for layer, share in by_layer(prof).items())
            print(f"profiled run (times not comparable): own time by layer: {shares}")
        else:
            print(
                f"decide {deciding / n * 1000:.2f} ms CPU/msg, "
                f"acknowledge {sending / n * 1000:.2f} ms CPU/msg "
                f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))})"
            )
        rows = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(counts.rows.items()))
        print(
            f"  per message: {counts.statements / n:.1f} statements, "
            f"{counts.flushes / n:.1f} flushes; rows written: {rows}"
        )
    finally:
        system.stop()
        clients.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="the first run under cProfile")
    args = parser.parse_args()
    for i in range(args.runs):
        run(args.messages, args.batch, profile=args.profile and i == 0)


if __name__ == "__main__":
    main()
