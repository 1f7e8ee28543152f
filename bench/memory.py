"""Memory of `switchboard up` (embedded mode): idle, after N messages, and idle again;
with --worker, of a scaled worker process: idle, after 1,000 and after N deliveries.

Run: .venv/bin/python bench/memory.py [--messages 10000] [--clients 8]
     .venv/bin/python bench/memory.py --worker [--deliveries 10000] [--clients 8]

Embedded: starts the real `switchboard up` (SQLite, in-process workers, SMTP on a
free port, acknowledgements delivered to the maildir), reads the resident memory of
the process and all its children from /proc, sends the corpus of bench/smtp_intake.py
over SMTP, waits until every message is decided and every acknowledgement sent,
and reads it again, then once more after the process has sat idle.

--worker: the Procfile's `smtp`, `worker` and `clock` roles as processes on a
scratch PostgreSQL database (bench/support.py) and Redis (SWITCHBOARD_TEST_REDIS_URL,
a queue of the run's own), acknowledgements sent to a relay on loopback that accepts
everything. The same corpus goes in over SMTP, 500 mails at a time, each batch
waited for until every record is decided and every delivery sent; the worker's
resident memory is read idle, once 1,000 deliveries are sent and once N are, and
again after 10 s idle. It "grew" when the last figure is more than 5 MB and 5%
above the one at 1,000 deliveries (what a leak would show; the first 1,000 fill
the caches and pools every worker keeps).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smtp_intake import Clients, corpus  # noqa: E402
from bench.support import free_port  # noqa: E402

BIN = Path(sys.executable).parent / "switchboard"
BATCH = 500  # mails sent together in the worker run, then waited for


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
        pending.extend(int(c) for c in children)
    return total / 1024


def start_up(root: Path) -> tuple[subprocess.Popen[bytes], int, dict[str, str]]:
    smtp_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_DATA_DIR=str(root),
        SWITCHBOARD_SMTP_PORT=str(smtp_port),
        SWITCHBOARD_HTTP_PORT=str(http_port),
        SWITCHBOARD_SMTP_MAX_MESSAGE_BYTES=str(50 * 1024 * 1024),
    )
    process = subprocess.Popen(
        [str(BIN), "up"], env=env, stdout=subprocess.DEVNULL, stderr=(root / "up.log").open("wb")
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200:
                return process, smtp_port, env
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("switchboard up did not answer /healthz within 60 s")


def counts(root: Path, *rows: str) -> list[int]:
    """``SELECT count(*) FROM`` each of ``rows`` (a table and its WHERE), read-only on
    the database of the run in ``root``."""
    with sqlite3.connect(f"file:{root / 'switchboard.db'}?mode=ro", uri=True, timeout=30) as db:
        return [db.execute(f"SELECT count(*) FROM {r}").fetchone()[0] for r in rows]


def backlog(root: Path) -> tuple[int, int, int]:
    """(inbound records, of which still pending, deliveries not yet sent)."""
    records, pending, unsent = counts(
        root,
        "inbound_records",
        "inbound_records WHERE status = 'pending'",
        "outbox WHERE status IN ('pending', 'sending')",
    )
    return records, pending, unsent


def drained(root: Path, total: int, timeout: float = 1800) -> float:
    """Wait until ``total`` records are decided and nothing is left to send; seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        records, pending, unsent = backlog(root)
        if records >= total and pending == 0 and unsent == 0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(f"not drained within {timeout} s: {backlog(root)}")


def mail_to_send(doc: str | None, messages: int) -> tuple[list[tuple[str, bytes]], Clients]:
    """The command line's ``--messages`` (default ``messages``) and ``--clients``:
    the mail to send, earlier and timed, and the clients that send it."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    earlier, timed = corpus(args.messages)
    return earlier + timed, Clients(args.clients)


def embedded(items: list[tuple[str, bytes]], clients: Clients) -> None:
    with tempfile.TemporaryDirectory(prefix="switchboard-memory-") as tmp:
        root = Path(tmp)
        process, port, _ = start_up(root)
        try:
            time.sleep(5)
            idle = rss_mb(process.pid)
            print(f"idle after start:            {idle:7.1f} MB")
            clients.blast(port, items)
            seconds = drained(root, len(items))
            loaded = rss_mb(process.pid)
            print(
                f"after {len(items):,} messages:     {loaded:7.1f} MB "
                f"(every one decided and acknowledged {seconds:.1f} s after the last 250)"
            )
            time.sleep(10)
            print(f"idle 10 s later:             {rss_mb(process.pid):7.1f} MB")
        finally:
            process.terminate()
            process.wait(30)


class Sink:
    """A mail relay on loopback that accepts every message and counts them."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.accepted = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.accepted += 1
        return "250 OK"

    def stop(self) -> None:
        self.controller.stop()


def scaled_backlog(engine: Any) -> tuple[int, int, int, int]:
    """(inbound records, of which still pending, deliveries not yet sent, sent)."""
    from sqlalchemy import text

    with engine.connect() as db:
        return tuple(
            db.execute(
                text(
                    "SELECT (SELECT count(*) FROM inbound_records),"
                    " (SELECT count(*) FROM inbound_records WHERE status = 'pending'),"
                    " (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')),"
                    " (SELECT count(*) FROM outbox WHERE status = 'sent')"
                )
            ).one()
        )


def scaled_drained(engine: Any, total: int, timeout: float = 1800) -> int:
    """Wait until ``total`` records are decided and nothing is left to send; deliveries sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records, pending, unsent, sent = scaled_backlog(engine)
        if records >= total and pending == 0 and unsent == 0:
            return sent
        time.sleep(0.25)
    raise SystemExit(f"not drained within {timeout} s: {scaled_backlog(engine)}")


def worker(deliveries: int, clients: Clients) -> None:
    import uuid

    from sqlalchemy import create_engine

    from bench.support import REDIS_URL, ScratchDatabase
    from tests.fault_support import smtp_up
    from tests.harness import BANNER

    database, relay = ScratchDatabase("sb_bench_memory"), Sink()
    engine = create_engine(database.url)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-memory-") as tmp:
            root, smtp_port = Path(tmp), free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
            env.update(
                SWITCHBOARD_DATA_DIR=str(root),
                SWITCHBOARD_DATABASE_URL=database.url,
                SWITCHBOARD_BROKER_URL=REDIS_URL,
                SWITCHBOARD_BROKER_QUEUE=f"sbbench-{uuid.uuid4().hex[:8]}",
                SWITCHBOARD_SECRET_KEY="bench-secret",
                SWITCHBOARD_SMTP_PORT=str(smtp_port),
                SWITCHBOARD_SMTP_MAX_MESSAGE_BYTES=str(50 * 1024 * 1024),
                SWITCHBOARD_MAIL_RELAY_HOST="127.0.0.1",
                SWITCHBOARD_MAIL_RELAY_PORT=str(relay.port),
                SWITCHBOARD_MAIL_RELAY_SECURITY="none",
            )
            with (root / "migrate.log").open("wb") as out:
                subprocess.run([str(BIN), "migrate"], env=env, check=True, stdout=out, stderr=out)
            for role in ("worker", "clock", "smtp"):
                processes[role] = subprocess.Popen(
                    [str(BIN), role], env=env, stdout=(root / f"{role}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            deadline = time.monotonic() + 120
            while not (BANNER in (root / "worker.log").read_text() and smtp_up(smtp_port)):
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes.values()):  # fmt: skip
                    raise SystemExit(f"the roles did not start: see {root}/*.log")
                time.sleep(0.2)
            pid = processes["worker"].pid
            time.sleep(5)
            idle = rss_mb(pid)
            print(f"worker idle after start:          {idle:7.1f} MB", flush=True)
            earlier, timed = corpus(deliveries * 3 // 2)
            items, offered, sent, figures, counts = earlier + timed, 0, 0, [], []
            for mark in (1_000, deliveries):
                while sent < mark and offered < len(items):
                    clients.blast(smtp_port, items[offered : offered + BATCH])
                    offered = min(offered + BATCH, len(items))
                    sent = scaled_drained(engine, offered)
                figures.append(rss_mb(pid))
                counts.append(sent)
                print(
                    f"worker after {sent:>6,} deliveries:   {figures[-1]:7.1f} MB "
                    f"({offered:,} mails decided)",
                    flush=True,
                )
            time.sleep(10)
            figures.append(rss_mb(pid))
            print(f"worker idle 10 s later:           {figures[-1]:7.1f} MB")
            growth = figures[-1] - figures[0]
            grew = growth > 5 and growth > 0.05 * figures[0]
            print(
                f"from {counts[0]:,} to {sent:,} deliveries: {growth:+.1f} MB "
                f"({100 * growth / figures[0]:+.1f}%): {'grew' if grew else 'no growth'}; "
                f"the relay accepted {relay.accepted:,} mails"
            )
            if any(p.poll() is not None for p in processes.values()):
                raise SystemExit(f"a role exited during the run: see {root}/*.log")
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                process.wait(30)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        relay.stop()
        engine.dispose()
        database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="a scaled worker's memory instead")
    parser.add_argument("--messages", type=int, default=10_000, help="embedded: mails to send")
    parser.add_argument("--deliveries", type=int, default=10_000, help="--worker: deliveries")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    clients = Clients(args.clients)
    try:
        if args.worker:
            worker(args.deliveries, clients)
        else:
            earlier, timed = corpus(args.messages)
            embedded(earlier + timed, clients)
    finally:
        clients.close()


if __name__ == "__main__":
    main()
