"""How fast the Slack app acknowledges a burst of signed requests (target: p99 under 200 ms).

Runs a whole Switchboard (embedded: SQLite, in-process workers) with the web app
served by uvicorn on a loopback port and the Slack Web API faked on another,
opens one ticket, then fires a burst of signed requests at /slack/events all at
once: half Events API messages in the card's thread (each becomes an internal
note, worked on after the answer), half card button presses. It measures the
time from sending each request to its HTTP answer, and prints the figures.

    .venv/bin/python bench/slack_ack.py [--requests 200] [--database-url URL] [--web-only]

``--web-only`` stops the worker threads once the card is posted, so the figures
show the web path alone (what a separate `switchboard web` process does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from channels import slack  # noqa: E402
from channels.fake import FakeChannel  # noqa: E402
from channels.slack.models import SlackCard, SlackEvent  # noqa: E402
from channels.web.app import create_app  # noqa: E402
from config.runtime import System, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.models import Agent, Ticket  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402
from tests.slack_support import SIGNING_SECRET, sign  # noqa: E402

CHANNEL = "CBENCH01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for the system to settle")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def serve(port: int, api_url: str, data: str, database_url: str) -> None:
    """The running web app (what `switchboard up` runs), in its own process."""
    settings = load_settings(
        data_dir=Path(data), database_url=database_url, secret_key="bench", worker_threads=4, log_level="WARNING",
        slack_bot_token="xoxb-bench", slack_signing_secret=SIGNING_SECRET, slack_api_url=api_url,
        slack_default_channel=CHANNEL, slack_undo_seconds=30,
    )
    migrate(settings)
    system = System(settings)
    system.start_workers()
    web = create_app(system.ctx)
    slack.attach(web, system.ctx, settings)
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", backlog=2048))
    threading.Thread(target=server.run, daemon=True).start()
    wait(lambda: server.started)
    with system.ctx.db.transaction() as session:
        session.add(Agent(name="Ana", email="ana@bench.example", roles=["agent"], slack_user_id="UANA"))
    FakeChannel(system.ctx).receive("plant-7", "Press 3 stopped, error E42", subject="Press 3 is down")

    def card_ts() -> str | None:
        with system.ctx.db.reading() as session:
            return session.execute(select(SlackCard.ts)).scalar_one_or_none()

    wait(card_ts)
    if os.environ.get("BENCH_NO_WORK") and system.worker:
        system.worker.stop()
    with system.ctx.db.reading() as session:
        number = session.execute(select(Ticket)).scalar_one().number
    print(json.dumps({"ts": card_ts(), "number": number, "db": settings.effective_database_url.split(":")[0], "threads": settings.worker_threads}), flush=True)
    for _line in sys.stdin:  # the parent asks whether the events are all worked on, then closes stdin
        with system.ctx.db.reading() as session:
            pending = session.execute(select(func.count()).select_from(SlackEvent).where(SlackEvent.status == "pending")).scalar_one()
        print(json.dumps({"pending": pending}), flush=True)
    server.should_exit = True
    system.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    parser.add_argument("--web-only", action="store_true", help="stop the in-process workers before the burst")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "API_URL", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2], args.database_url)
        return

    fake = FakeSlack()
    fake.start()
    data = tempfile.mkdtemp(prefix="sb-bench-")
    port = free_port()
    if args.web_only:
        os.environ["BENCH_NO_WORK"] = "1"
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), fake.url, data, "--database-url", args.database_url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    ready = json.loads(child.stdout.readline())
    ts, number = ready["ts"], ready["number"]

    def event_body(i: int) -> tuple[str, str]:
        event = {"type": "message", "user": "UANA", "text": f"note: burst {i}", "ts": f"1800000000.{i:06d}", "channel": CHANNEL, "channel_type": "channel", "thread_ts": ts}
        return json.dumps({"type": "event_callback", "team_id": "T0001", "api_app_id": "A0001", "event_id": f"EvB{i:05d}", "event_time": int(time.time()), "event": event}), "application/json"

    def action_body(i: int) -> tuple[str, str]:
        payload = {
            "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "UANA"}, "api_app_id": "A0001",
            "trigger_id": f"trig-{uuid.uuid4().hex[:8]}", "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL, "message_ts": ts},
            "actions": [{"type": "button", "action_id": "sb_copy_link", "value": number, "action_ts": str(time.time())}],
        }
        return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"

    bodies = [("event", *event_body(i)) if i % 2 == 0 else ("interaction", *action_body(i)) for i in range(args.requests)]
    signed = [(kind, body, {"Content-Type": ctype, **sign(body)}) for kind, body, ctype in bodies]

    def raw_request(body: str, headers: dict[str, str]) -> bytes:
        lines = ["POST /slack/events HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body.encode())}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body.encode()

    requests = [(kind, raw_request(body, headers)) for kind, body, headers in signed]

    async def burst() -> list[tuple[str, int, float]]:
        # A lean HTTP/1.1 client on asyncio streams (a heavy client would measure itself).
        # Slack keeps its connections open: open them all first, then fire the burst at once.
        conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in requests))

        async def one(kind: str, raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int, float]:
            started = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
            await reader.readexactly(length)
            elapsed = (time.perf_counter() - started) * 1000
            writer.close()
            return kind, int(lines[0].split()[1]), elapsed

        return await asyncio.gather(*(one(kind, raw, *conn) for (kind, raw), conn in zip(requests, conns, strict=True)))

    started = time.perf_counter()
    results = asyncio.run(burst())
    wall = time.perf_counter() - started

    workers = "workers stopped: web path only" if args.web_only else f"{ready['threads']} worker threads in the same process"
    print(f"Slack acknowledgement latency: a burst of {len(results)} signed requests, all sent at once over open connections, to /slack/events of the running web app ({ready['db']}, {workers})")
    ok = True
    for kind in ("event", "interaction", "all"):
        times = [ms for k, _, ms in results if kind in ("all", k)]
        statuses = {s for k, s, _ in results if kind in ("all", k)}
        p99 = percentile(times, 99)
        print(f"  {kind:<12} n={len(times):<4} p50={percentile(times, 50):7.1f} ms  p95={percentile(times, 95):7.1f} ms  p99={p99:7.1f} ms  max={max(times):7.1f} ms  mean={statistics.mean(times):7.1f} ms  HTTP {sorted(statuses)}")
        ok = ok and p99 < 200 and statuses == {200}
    print(f"  burst sent and answered in {wall * 1000:.0f} ms", flush=True)
    while not args.web_only:
        child.stdin.write("?\n")
        child.stdin.flush()
        if json.loads(child.stdout.readline())["pending"] == 0:
            break
        time.sleep(0.1)
    drained = time.perf_counter() - started
    if not args.web_only:
        print(f"  all {len([b for b in bodies if b[0] == 'event'])} events and {len([b for b in bodies if b[0] != 'event'])} presses worked on by the workers within {drained:.1f} s of the burst")
    child.stdin.close()
    child.wait(30)
    fake.stop()

    print(f"  target p99 < 200 ms: {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
