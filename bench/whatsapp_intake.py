"""WhatsApp webhook intake benchmark, embedded mode (SQLite, in-process workers).

Run: .venv/bin/python bench/whatsapp_intake.py [--requests 1000] [--concurrency 32]
        [--rate 200] [--seconds 10] [--with-smtp]

A whole Switchboard as `switchboard up` runs it (SQLite, 4 worker threads in the
web process, uvicorn with uvloop and httptools, access log off) serves
/whatsapp/webhook on a loopback port, in a process of its own; the Graph API
(where acknowledgements go) is the loopback fake the tests use, in that process too.
This process plays Meta: signed webhooks, each one a text message from one of 200
client numbers (so most continue a ticket, some open one), built like the spec's
``Text Message`` example.

1. Burst: ``--requests`` webhooks sent with ``--concurrency`` in flight.
   - stored and answered: requests/s until the last 200 (each answer comes only
     after its message is committed);
   - committed ticket: requests/s until every message is decided (a ticket opened
     or continued, its acknowledgement in the outbox).
2. Latency: webhooks offered at ``--rate`` per second for ``--seconds``, each
   sent at its due time whatever the earlier ones are doing; p50/p99/max from
   sending to the answer (goal: p99 under 100 ms at 200/s).

``--web-only`` runs the same with the workers stopped (records stay stored, undecided):
the edge alone; the committed-ticket figure is then not measured.
``--with-smtp`` then runs bench/smtp_intake.py (500 messages) for its figure beside.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slack_ack import percentile, wait  # noqa: E402
from bench.support import free_port  # noqa: E402

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "106540352242922"
PATH = "/whatsapp/webhook"
CLIENTS = 200


def serve(port: int, data: str) -> None:
    """The server process: Switchboard embedded, the fake Graph API, answers to stdin."""
    from bench.support import serve_web
    from config.settings import load_settings
    from tests.fakewhatsapp import TOKEN, FakeWhatsApp
    from tests.harness import pending_records

    fake = FakeWhatsApp()
    fake.start()
    settings = load_settings(
        data_dir=Path(data),
        secret_key="bench",
        worker_threads=4,
        log_level="WARNING",
        whatsapp_token=TOKEN,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token="bench",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_api_url=fake.url,
    )
    system, server = serve_web(settings, port, workers=not os.environ.get("BENCH_NO_WORK"))
    print(json.dumps({"ready": True}), flush=True)
    for _line in sys.stdin:  # the parent asks how many records are still undecided
        with system.ctx.db.reading() as session:
            pending = pending_records(session)
        print(json.dumps({"pending": pending, "violations": len(fake.violations)}), flush=True)
    server.should_exit = True
    system.stop()
    fake.stop()


class Meta:
    """Builds and signs webhooks, as Meta sends them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.n = 0

    def body(self) -> tuple[bytes, dict[str, str]]:
        import hashlib
        import hmac

        self.n += 1
        sender = str(16505550000 + self.n % CLIENTS)
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "419561257915477",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": "Client"}, "wa_id": sender}],
                                "messages": [
                                    {
                                        "from": sender,
                                        "id": f"wamid.bench{time.time_ns()}{self.n}",
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": f"Press {self.n % 9} stopped again."},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        raw = json.dumps(payload).encode()
        digest = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return raw, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


class Connection:
    """One keep-alive HTTP/1.1 connection (a bare client: httpx would cost more CPU
    per request than the server it measures, on the same two cores)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def post(self, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is not None and time.monotonic() - self.used > 2:  # the server's
            self.writer.close()  # keep-alive timeout (5 s) may have closed it
            self.writer = None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
            f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        self.used = time.monotonic()
        return int(status_line.split()[1]), await self.reader.readexactly(length)


async def post(connection: Connection, meta: Meta) -> float:
    raw, headers = meta.body()
    start = time.perf_counter()
    status, body = await connection.post(raw, headers)
    if status != 200 or json.loads(body).get("stored") != 1:
        raise SystemExit(f"unexpected answer {status}: {body[:300]!r}")
    return time.perf_counter() - start


async def burst(meta: Meta, requests: int, concurrency: int) -> float:
    queue = iter(range(requests))

    async def worker() -> None:
        connection = Connection(meta.port)
        for _ in queue:
            await post(connection, meta)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def offered(meta: Meta, rate: float, seconds: float) -> list[float]:
    """Each request at its due time, on a free connection (a new one if none is free)."""
    idle = [Connection(meta.port) for _ in range(50)]

    async def one() -> float:
        connection = idle.pop() if idle else Connection(meta.port)
        try:
            return await post(connection, meta)
        finally:
            idle.append(connection)

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    return list(await asyncio.gather(*tasks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--with-smtp", action="store_true")
    parser.add_argument("--web-only", action="store_true")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, **({"BENCH_NO_WORK": "1"} if args.web_only else {})}
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), data],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert server.stdin is not None and server.stdout is not None
        json.loads(server.stdout.readline())

        def ask() -> dict[str, int]:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write("?\n")
            server.stdin.flush()
            return dict(json.loads(server.stdout.readline()))

        meta = Meta(port)
        try:
            settled = (lambda: True) if args.web_only else (lambda: ask()["pending"] == 0)
            asyncio.run(burst(meta, 50, 8))  # warm-up: every client's first ticket, caches
            wait(settled, timeout=120)
            start = time.perf_counter()
            answered = asyncio.run(burst(meta, args.requests, args.concurrency))
            wait(settled, timeout=300)
            decided = time.perf_counter() - start
            latencies = asyncio.run(offered(meta, args.rate, args.seconds))
            wait(settled, timeout=300)
            violations = ask()["violations"]
        finally:
            server.stdin.close()
            server.wait(timeout=60)
    ms = sorted(x * 1000 for x in latencies)
    mode = (
        "workers stopped: the edge alone"
        if args.web_only
        else "4 worker threads in the web process"
    )
    print(f"WhatsApp webhook intake, embedded mode (SQLite, {mode})")
    committed = (
        "" if args.web_only else f", {args.requests / decided:.0f} requests/s to committed ticket"
    )
    print(
        f"  burst of {args.requests} webhooks, {args.concurrency} in flight: "
        f"{args.requests / answered:.0f} requests/s stored and answered{committed}"
    )
    print(
        f"  offered {args.rate:.0f} requests/s for {args.seconds:.0f} s ({len(ms)} requests): "
        f"answer latency p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"max {ms[-1]:.1f} ms (goal: p99 under 100 ms)"
    )
    if violations:
        print(f"  WARNING: {violations} Graph API calls the spec does not allow")
    if args.with_smtp:
        print("SMTP intake, same machine (bench/smtp_intake.py --messages 500):", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "smtp_intake.py"), "--messages", "500"],
            check=False,
        )


if __name__ == "__main__":
    main()
