"""Webhook intake on the embedded mode: Telegram (and any chat channel added to
``ENTRIES``), printed beside the SMTP figure.

    .venv/bin/python bench/webhook_intake.py [--requests 1000] [--connections 40]
        [--rate 200] [--seconds 10] [--smtp-messages 500] [--only telegram]

For each channel entry, a whole Switchboard runs as `switchboard up` runs it
(SQLite, 4 worker threads on the in-process broker, uvicorn with uvloop and
httptools) in a process of its own, its platform's API faked in a third process
(acknowledgements really go out to it). A lean asyncio HTTP/1.1 client sends
each request as the platform does (Telegram keeps up to 40 connections open):

1. Burst: ``--requests`` updates from as many new chats over ``--connections``
   connections at once. Requests/s until every one is stored and answered (200),
   and until every one is a committed ticket (the record decided, its
   acknowledgement in the outbox).
2. Latency: updates offered at ``--rate`` per second for ``--seconds`` (open loop:
   each is due at its time, whatever came before), from a new system; p50/p99 of
   the time from when it was due to its answer. Goal: p99 under 100 ms.

An entry is a ``Entry``: its settings, path, headers and one request body per
number; a new webhook channel adds one to ``ENTRIES``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.support import free_port  # noqa: E402


def telegram_body(i: int) -> bytes:
    chat = 10_000 + i
    update = {
        "update_id": 1_000_000 + i,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": f"Client {i}"},
            "from": {"id": chat, "is_bot": False, "first_name": f"Client {i}"},
            "text": "The conveyor on line 2 stopped with error E42. Can someone come?",
        },
    }
    return json.dumps(update).encode()


@dataclass(frozen=True)
class Entry:
    """One webhook channel to measure."""

    name: str
    path: str
    settings: Callable[[str], dict[str, Any]]  # the fake API's URL -> settings
    headers: dict[str, str]
    body: Callable[[int], bytes]
    fake: str  # "module:Class" of the loopback fake of its platform (start(), .url)
    channel: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


TELEGRAM_SECRET = "bench-webhook-secret"
WEB_ONLY = bool(os.environ.get("BENCH_WEB_ONLY"))  # --web-only: no workers, records stay pending
ENTRIES = [
    Entry(
        name="telegram",
        path="/telegram/webhook",
        settings=lambda api: {
            "telegram_bot_token": "123456:TEST-token",
            "telegram_api_url": api,
            "telegram_mode": "webhook",
            "telegram_webhook_secret": TELEGRAM_SECRET,
            "telegram_global_rate": 1000.0,
        },
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
        },
        body=telegram_body,
        fake="tests.faketelegram:FakeTelegram",
        channel="telegram",
    ),
]


# The server process ------------------------------------------------------------------------


def serve_fake(spec: str) -> None:
    """Run a platform fake until stdin closes, printing its URL."""
    import importlib

    module, name = spec.split(":")
    fake = getattr(importlib.import_module(module), name)()
    fake.start()
    print(json.dumps({"url": fake.url}), flush=True)
    sys.stdin.read()


def serve(entry_name: str, port: int, api: str, data: str) -> None:
    """One embedded Switchboard with the entry's channel, until stdin closes; answers
    each line on stdin with the count of its records still pending."""
    import logging

    from sqlalchemy import func, select

    from bench.support import serve_web
    from config.settings import load_settings
    from core.models import InboundRecord, InboundStatus

    logging.disable(logging.WARNING)
    entry = next(e for e in ENTRIES if e.name == entry_name)
    settings = load_settings(
        data_dir=Path(data),
        secret_key="bench",
        worker_threads=4,
        log_level="ERROR",
        auto_reply_limit_per_hour=1000,
        public_url="https://support.example",
        **entry.settings(api),
    )
    system, server = serve_web(settings, port, workers=not os.environ.get("BENCH_WEB_ONLY"))
    print(json.dumps({"ready": True}), flush=True)
    for _line in sys.stdin:
        with system.ctx.db.reading() as session:
            counts = dict(
                session.execute(
                    select(InboundRecord.status, func.count())
                    .where(InboundRecord.channel == entry.channel)
                    .group_by(InboundRecord.status)
                ).all()
            )
        print(
            json.dumps(
                {
                    "pending": counts.get(InboundStatus.PENDING, 0),
                    "stored": sum(counts.values()),
                    "cpu": time.process_time(),
                }
            ),
            flush=True,
        )
    server.should_exit = True
    system.stop()


# The client ----------------------------------------------------------------------------------


def request(entry: Entry, port: int, i: int) -> bytes:
    body = entry.body(i)
    lines = [f"POST {entry.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in entry.headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        (int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0
    )
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def burst(entry: Entry, port: int, count: int, connections: int) -> tuple[float, list[int]]:
    """All ``count`` requests over ``connections`` kept-open connections; seconds, statuses."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    todo = list(range(count))
    statuses: list[int] = []

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while todo:
            i = todo.pop()
            statuses.append(await exchange(reader, writer, request(entry, port, i)))

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    elapsed = time.perf_counter() - started
    for _, w in conns:
        w.close()
    return elapsed, statuses


async def offered(
    entry: Entry, port: int, rate: float, seconds: float, connections: int, first: int
) -> tuple[list[float], list[int]]:
    """Requests due at ``rate`` per second; latency from when each was due to its answer."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(i: int, due: float) -> None:
        conn = await pool.get()
        try:
            statuses.append(await exchange(*conn, request(entry, port, first + i)))
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - due)

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, statuses


class Server:
    """The server process of one entry, and its platform's fake in another."""

    def __init__(self, entry: Entry, data: str) -> None:
        me = [sys.executable, __file__]
        self.fake = subprocess.Popen(
            [*me, "--fake", entry.fake], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.fake.stdout is not None
        api = json.loads(self.fake.stdout.readline())["url"]
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*me, "--serve", entry.name, str(self.port), api, data],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {entry.name} server did not start")

    def ask(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def wait_decided(self, total: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.ask()
            if state["stored"] >= total and (WEB_ONLY or state["pending"] == 0):
                return
            time.sleep(0.05)
        raise SystemExit("timed out waiting for the workers")

    def close(self) -> None:
        for proc in (self.proc, self.fake):
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def measure(entry: Entry, args: argparse.Namespace, root: Path) -> None:
    server = Server(entry, str(root / f"{entry.name}-burst"))
    try:
        cpu = server.ask()["cpu"]
        started = time.perf_counter()
        answered, statuses = asyncio.run(burst(entry, server.port, args.requests, args.connections))
        server.wait_decided(args.requests)
        committed = time.perf_counter() - started
        cpu = server.ask()["cpu"] - cpu
    finally:
        server.close()
    bad = [s for s in statuses if s != 200]
    print(
        f"{entry.name:9} burst of {args.requests} over {args.connections} connections: "
        f"stored and answered {args.requests / answered:7.1f} req/s; "
        + ("" if WEB_ONLY else f"committed tickets {args.requests / committed:7.1f} req/s; ")
        + f"server CPU {cpu / args.requests * 1000:.1f} ms/req"
        + (f"; {len(bad)} not 200: {sorted(set(bad))}" if bad else "")
    )
    server = Server(entry, str(root / f"{entry.name}-latency"))
    try:
        latencies, statuses = asyncio.run(
            offered(entry, server.port, args.rate, args.seconds, args.connections, 500_000)
        )
        server.wait_decided(len(latencies))
    finally:
        server.close()
    bad = [s for s in statuses if s != 200]
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(
        f"{'':9} {args.rate:.0f} req/s offered for {args.seconds:.0f} s: answer latency "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"({'goal met' if p99 < 100 else 'over the 100 ms goal'})"
        + (f"; {len(bad)} not 200" if bad else "")
    )


def smtp(messages: int, root: Path) -> None:
    """bench/smtp_intake.py's throughput figures on a smaller corpus, for comparison."""
    import logging

    from bench import smtp_intake

    logging.disable(logging.INFO)
    earlier, items = smtp_intake.corpus(messages)
    clients = smtp_intake.Clients(8)
    try:
        rate, cpu, _ = smtp_intake.throughput(earlier, items, clients, root / "smtp", 4)
        edge, _ = smtp_intake.edge_only(items, clients, root / "smtp-edge")
    finally:
        clients.close()
    print(
        f"{'smtp':9} {len(items)} messages over 8 SMTP clients (bench/smtp_intake.py's corpus): "
        f"stored and answered 250 {edge:7.1f} msg/s (no workers); committed tickets "
        f"{rate:7.1f} msg/s; server CPU {cpu * 1000:.1f} ms/msg"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        serve_fake(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--smtp-messages", type=int, default=500, help="0: skip the SMTP figure")
    parser.add_argument("--only", choices=[e.name for e in ENTRIES])
    parser.add_argument(
        "--web-only", action="store_true", help="no workers: the web path alone (nothing decided)"
    )
    args = parser.parse_args()
    if args.web_only:
        os.environ["BENCH_WEB_ONLY"] = "1"  # read by the server processes
        global WEB_ONLY
        WEB_ONLY = True
    print(
        f"embedded mode (SQLite, 4 worker threads in the web process); {os.cpu_count()} CPUs; "
        f"loop {'uvloop' if find_spec('uvloop') else 'asyncio'}, "
        f"http {'httptools' if find_spec('httptools') else 'h11'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for entry in ENTRIES:
            if args.only in (None, entry.name):
                measure(entry, args, root)
        if args.smtp_messages and args.only is None:
            smtp(args.smtp_messages, root)


if __name__ == "__main__":
    main()
