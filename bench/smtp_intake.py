"""SMTP intake benchmark, embedded mode (SQLite, in-process workers).

Run: .venv/bin/python bench/smtp_intake.py [--messages 2000] [--clients 8]

1. Throughput: a realistic corpus (30% replies, HTML parts, attachments,
   non-ASCII) sent over SMTP; timed until every message is a committed ticket
   (or appended reply) with its acknowledgement in the outbox.
2. Baseline, same run, same corpus and clients: an aiosmtpd server that only
   parses with the stdlib and inserts one row per message into SQLite.
   Beside each rate: the server process's CPU time per message (all its threads;
   the SMTP clients run in other processes), steadier than the rate on a
   machine shared with other work.
3. Latency (embedded): messages offered at a fixed rate (default 50/s); p50/p99
   from the SMTP 250 to the acknowledgement written to the maildir.
4. Scaled, the same corpus and clients: the Procfile's roles (``switchboard smtp``,
   ``--worker-processes`` ``switchboard worker`` processes, ``switchboard clock``) on
   a throwaway PostgreSQL database (on SWITCHBOARD_TEST_POSTGRES_URL's server) and
   Redis (SWITCHBOARD_TEST_REDIS_URL); messages/s and the CPU per message summed over
   those processes (the database and Redis servers' own CPU not counted). Skipped,
   saying why, when either server cannot be reached, or with ``--no-scaled``.
   ``--scaled-database sqlite``: the same roles on one SQLite file instead (what
   running embedded mode's parts as separate processes would give).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import smtplib
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.support import free_port  # noqa: E402
from config.runtime import System, migrate, settle_heap  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.models import InboundRecord, OutboxDelivery  # noqa: E402
from tests.harness import pending_records  # noqa: E402

SUBJECTS = [
    "Printer jammed on floor 2",
    "VPN drops every hour",
    "Störung: Scanner offline",
    "Impresora no imprime",
    "Écran noir au démarrage",
    "Badge reader rejects cards",
    "ログインできません",
    "Invoice copy please",
]
BODIES = [
    "The device stopped at 08:10 and shows error E42. Could you send someone?",
    "Seit heute Morgen funktioniert der Scanner nicht mehr. Bitte um Rückruf.",
    "No puedo iniciar sesión desde esta mañana, ¿pueden ayudarme?",
    "L'écran reste noir après la mise à jour. Merci de votre aide.",
]


def _message(
    i: int,
    sender: str,
    subject: str,
    body: str,
    rng: random.Random,
    attachment: bytes,
    parent: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Client Ñame {i} <{sender}>"
    msg["To"] = "support@localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<bench-{i}@client.example>"
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    msg.set_content(body)
    if rng.random() < 0.6:
        msg.add_alternative(
            f"<html><body><p>{body.replace(chr(10), '<br>')}</p></body></html>", subtype="html"
        )
    if rng.random() < 0.2:
        msg.add_attachment(
            attachment[: rng.randint(2_000, 24_000)],
            maintype="application",
            subtype="pdf",
            filename=f"report-{i}.pdf",
        )
    return msg.as_bytes(policy=policy.SMTP)


def corpus(n: int, seed: int = 7) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(earlier mail, timed mail): the timed part is 30% replies to the earlier tickets.

    The earlier mail is sent and decided before timing starts, as in real life,
    where a client replies to a ticket that exists.
    """
    rng = random.Random(seed)
    attachment = os.urandom(24_000)
    earlier: list[tuple[str, bytes]] = []
    parents: list[tuple[str, str, str]] = []
    for i in range(max(50, n // 10)):
        sender = f"early{i}@client{i % 50}.example"
        subject = f"{rng.choice(SUBJECTS)} #{i}"
        earlier.append(
            (sender, _message(100_000 + i, sender, subject, rng.choice(BODIES), rng, attachment))
        )
        parents.append((sender, f"<bench-{100_000 + i}@client.example>", subject))
    timed: list[tuple[str, bytes]] = []
    for i in range(n):
        if rng.random() < 0.30:
            sender, parent, subject = rng.choice(parents)
            body = (
                "Still happening this morning.\n\nOn Tue, 24 Nov 2026 at 09:14, Support <support@localhost> wrote:\n> "
                + rng.choice(BODIES)
            )
            timed.append(
                (sender, _message(i, sender, "Re: " + subject, body, rng, attachment, parent))
            )
        else:
            sender = f"client{i}@client{i % 50}.example"
            timed.append(
                (
                    sender,
                    _message(
                        i,
                        sender,
                        f"{rng.choice(SUBJECTS)} #{i}",
                        rng.choice(BODIES) + f"\nReference {i}.",
                        rng,
                        attachment,
                    ),
                )
            )
    return earlier, timed


def _send_chunk(port: int, chunk: list[tuple[str, bytes]]) -> int:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for sender, raw in chunk:
            client.sendmail(sender, ["support@localhost"], raw)
    return len(chunk)


def _ready() -> bool:
    return True


class Clients:
    """SMTP clients in other processes (started before timing), so they do not
    compete with the server for this process's GIL."""

    def __init__(self, clients: int) -> None:
        import multiprocessing

        self.clients = clients
        self.pool = multiprocessing.get_context("spawn").Pool(min(clients, 2))
        self.pool.apply(_ready)

    def blast(self, port: int, items: list[tuple[str, bytes]]) -> None:
        """Send everything over ``clients`` parallel SMTP sessions."""
        chunks = [items[i :: self.clients] for i in range(self.clients)]
        sent = sum(self.pool.starmap(_send_chunk, [(port, c) for c in chunks]))
        assert sent == len(items)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


# The bare baseline -------------------------------------------------------------------


class BareHandler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()

    def conn(self) -> sqlite3.Connection:
        if not hasattr(self.local, "c"):
            c = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            self.local.c = c
        return self.local.c

    async def handle_DATA(self, server, session, envelope) -> str:
        import asyncio

        raw = envelope.original_content

        def store() -> None:
            msg = message_from_bytes(raw, policy=policy.default)
            body = msg.get_body(("plain", "html"))
            text = body.get_content() if body else ""
            c = self.conn()
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "INSERT INTO mail (message_id, sender, subject, body, raw) VALUES (?, ?, ?, ?, ?)",
                (str(msg["Message-ID"]), str(msg["From"]), str(msg["Subject"]), text, raw),
            )
            c.execute("COMMIT")

        await asyncio.get_running_loop().run_in_executor(None, store)
        return "250 OK"


def baseline(items: list[tuple[str, bytes]], clients: Clients, root: Path) -> tuple[float, float]:
    path = root / "bare.db"
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(
        "CREATE TABLE mail (id INTEGER PRIMARY KEY, message_id TEXT UNIQUE, sender TEXT, subject TEXT, body TEXT, raw BLOB)"
    )
    c.close()
    port = free_port()
    controller = Controller(
        BareHandler(path), hostname="127.0.0.1", port=port, data_size_limit=30_000_000
    )
    controller.start()
    start, cpu = time.perf_counter(), time.process_time()
    clients.blast(port, items)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    controller.stop()
    return len(items) / elapsed, cpu / len(items)


# Switchboard ----------------------------------------------------------------------------


def start_switchboard(root: Path, threads: int, workers: bool = True) -> tuple[System, int]:
    port = free_port()
    settings = load_settings(
        data_dir=root,
        secret_key="bench-secret",
        worker_threads=threads,
        smtp_port=port,
        auto_reply_limit_per_hour=1000,
    )
    migrate(settings)
    system = System(settings)
    if workers:
        system.start_workers()
    system.start_services("smtp")
    settle_heap()  # as `switchboard up` does once started
    return system, port


def wait_done(connect: Callable[[], Any], total: int, timeout: float = 600) -> None:
    """Until ``total`` records are stored and none is pending; ``connect`` opens a session
    or connection on the database (as a context manager)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect() as conn:
            pending = pending_records(conn)
            stored = conn.execute(select(func.count()).select_from(InboundRecord)).scalar_one()
        if stored >= total and pending == 0:
            return
        time.sleep(0.05)  # each look costs the server process ~0.4 ms of CPU: not too often
    raise SystemExit("timed out waiting for the workers")


def outcomes_of(connect: Callable[[], Any]) -> dict[str | None, int]:
    """How many records had each outcome, and how many acknowledgements were queued."""
    with connect() as conn:
        outcomes: dict[str | None, int] = dict(
            conn.execute(
                select(InboundRecord.outcome, func.count()).group_by(InboundRecord.outcome)
            ).all()
        )
        outcomes["acks_in_outbox"] = conn.execute(
            select(func.count()).select_from(OutboxDelivery).where(OutboxDelivery.kind == "ack")
        ).scalar_one()
    return outcomes


def throughput(
    earlier: list[tuple[str, bytes]],
    items: list[tuple[str, bytes]],
    clients: Clients,
    root: Path,
    threads: int,
) -> tuple[float, float, dict[str | None, int]]:
    system, port = start_switchboard(root, threads)
    try:
        clients.blast(port, earlier)
        wait_done(system.ctx.db.reading, len(earlier))
        start, cpu = time.perf_counter(), time.process_time()
        clients.blast(port, items)
        wait_done(system.ctx.db.reading, len(earlier) + len(items))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return len(items) / elapsed, cpu / len(items), outcomes_of(system.ctx.db.reading)
    finally:
        system.stop()


def edge_only(items: list[tuple[str, bytes]], clients: Clients, root: Path) -> tuple[float, float]:
    """The SMTP edge alone (no workers): accepted, stored and answered 250."""
    system, port = start_switchboard(root, 1, workers=False)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        clients.blast(port, items)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return len(items) / elapsed, cpu / len(items)
    finally:
        system.stop()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scaled(
    earlier: list[tuple[str, bytes]],
    items: list[tuple[str, bytes]],
    clients: Clients,
    root: Path,
    threads: int,
    workers: int,
    sqlite: bool = False,
) -> tuple[float, float, dict[str | None, int]] | str:
    """The Procfile's roles on PostgreSQL (or, with ``sqlite``, one SQLite file in WAL
    mode, as embedded mode keeps its data) and Redis; (msg/s, CPU s/msg over the roles'
    processes, outcomes), or why it could not run."""
    import subprocess
    import uuid

    import redis
    from sqlalchemy import create_engine

    from bench.support import REDIS_URL, ScratchDatabase, stop_roles

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} cannot be reached ({exc})"
    database: ScratchDatabase | None = None
    if sqlite:
        root.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{root / 'switchboard.db'}"
    else:
        try:
            database = ScratchDatabase("sb_smtp_bench")
        except Exception as exc:
            return f"PostgreSQL (SWITCHBOARD_TEST_POSTGRES_URL) cannot be reached ({exc})"
        url = database.url
    queue = f"sbbench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
        "SWITCHBOARD_DATA_DIR": str(root),
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_BROKER_URL": REDIS_URL,
        "SWITCHBOARD_BROKER_QUEUE": queue,
        "SWITCHBOARD_SECRET_KEY": "bench-secret",
        "SWITCHBOARD_WORKER_THREADS": str(threads),
        "SWITCHBOARD_SMTP_PORT": str(port),
        "SWITCHBOARD_AUTO_REPLY_LIMIT_PER_HOUR": "1000",
        "SWITCHBOARD_LOG_LEVEL": "ERROR",
    }
    command = str(Path(sys.executable).parent / "switchboard")
    processes: list[subprocess.Popen[bytes]] = []
    engine = create_engine(url)
    try:
        subprocess.run([command, "migrate"], env=env, check=True, capture_output=True)
        roles = ["smtp", *["worker"] * workers, "clock"]
        processes = [
            subprocess.Popen([command, role], env=env, stdout=subprocess.DEVNULL) for role in roles
        ]
        deadline = time.monotonic() + 60
        while not _listening(port):
            if time.monotonic() > deadline:
                return "the smtp role did not start listening within 60 s"
            time.sleep(0.1)

        clients.blast(port, earlier)
        wait_done(engine.connect, len(earlier))
        start, cpu = time.perf_counter(), sum(_cpu_seconds(p.pid) for p in processes)
        clients.blast(port, items)
        wait_done(engine.connect, len(earlier) + len(items))
        elapsed = time.perf_counter() - start
        cpu = sum(_cpu_seconds(p.pid) for p in processes) - cpu
        return len(items) / elapsed, cpu / len(items), outcomes_of(engine.connect)
    finally:
        stop_roles(processes, env)
        engine.dispose()
        if database is not None:
            database.drop()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def latency(count: int, rate: float, root: Path, threads: int) -> list[float]:
    system, port = start_switchboard(root, threads)
    maildir = system.settings.maildir_path / "new"
    accepted: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        known: set[str] = set()
        while not done.is_set():
            if maildir.exists():
                for entry in os.scandir(maildir):
                    if entry.name not in known:
                        known.add(entry.name)
                        now = time.perf_counter()
                        with open(entry.path, "rb") as fh:
                            head = fh.read(4096)
                        to = message_from_bytes(head, policy=policy.compat32)["To"]
                        seen[str(to)] = now
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    items = [(f"lat{i}@client.example", _simple(i)) for i in range(count)]
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            start = time.perf_counter()
            for i, (sender, raw) in enumerate(items):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.sendmail(sender, ["support@localhost"], raw)
                accepted[sender] = time.perf_counter()
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        system.stop()
    return [seen[s] - accepted[s] for s in accepted if s in seen]


def _simple(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"lat{i}@client.example"
    msg["To"] = "support@localhost"
    msg["Subject"] = f"Latency probe {i} – Störung"
    msg["Message-ID"] = f"<lat-{i}@client.example>"
    msg.set_content("The conveyor stopped. Bitte helfen.")
    msg.add_alternative("<p>The conveyor stopped. Bitte helfen.</p>", subtype="html")
    return msg.as_bytes(policy=policy.SMTP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=4, help="worker threads (SWITCHBOARD_WORKER_THREADS)"
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument(
        "--worker-processes", type=int, default=2, help="scaled: `switchboard worker` processes"
    )
    parser.add_argument("--no-scaled", action="store_true", help="skip the scaled deployment")
    parser.add_argument(
        "--scaled-database",
        choices=["postgresql", "sqlite"],
        default="postgresql",
        help="scaled: the roles' database (sqlite: one file, as embedded mode keeps it)",
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    earlier, items = corpus(args.messages)
    size = sum(len(r) for _, r in items) / len(items)
    replies = sum(1 for _, raw in items if b"In-Reply-To" in raw)
    print(
        f"corpus: {len(items)} messages ({replies} replies to {len(earlier)} earlier tickets), {size / 1024:.1f} KiB average; {args.clients} SMTP clients; {os.cpu_count()} CPUs"
    )
    clients = Clients(args.clients)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, base_cpu = baseline(items, clients, root)
        print(
            f"baseline (aiosmtpd + stdlib parse + one SQLite insert): {base:8.1f} msg/s   server CPU {base_cpu * 1000:5.1f} ms/msg"
        )
        rate, cpu, outcomes = throughput(earlier, items, clients, root / "sb", args.threads)
        print(
            f"switchboard (SMTP -> ticket + ack in outbox, SQLite): {rate:8.1f} msg/s   server CPU {cpu * 1000:5.1f} ms/msg   ratio {rate / base:.2f}"
        )
        print(f"  outcomes, earlier mail included: {outcomes}")
        edge, edge_cpu = edge_only(items, clients, root / "edge")
        print(
            f"  of which the SMTP edge alone (stored, 250, no workers): {edge:8.1f} msg/s   server CPU {edge_cpu * 1000:5.1f} ms/msg"
        )
        # Embedded latency before the scaled phase, whose database and processes it
        # would otherwise share the machine with while they wind down.
        lat = latency(args.latency_messages, args.rate, root / "lat", args.threads)
        if lat:
            lat.sort()
            p50 = statistics.median(lat)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(
                f"latency at {args.rate:.0f} msg/s offered, SMTP 250 -> ack in maildir: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms ({len(lat)}/{args.latency_messages} seen)"
            )
        else:
            print("latency: no acknowledgement reached the maildir")
        if args.no_scaled:
            print("scaled: skipped (--no-scaled)")
        else:
            sqlite = args.scaled_database == "sqlite"
            got = scaled(
                earlier,
                items,
                clients,
                root / "scaled",
                args.threads,
                args.worker_processes,
                sqlite=sqlite,
            )
            if isinstance(got, str):
                print(f"scaled: skipped: {got}")
            else:
                srate, scpu, soutcomes = got
                print(
                    f"scaled (smtp, {args.worker_processes} worker, clock processes; {'SQLite' if sqlite else 'PostgreSQL'} + Redis): {srate:8.1f} msg/s   CPU {scpu * 1000:5.1f} ms/msg over those processes   ratio {srate / base:.2f}"
                )
                print(f"  outcomes, earlier mail included: {soutcomes}")
        clients.close()


if __name__ == "__main__":
    main()
