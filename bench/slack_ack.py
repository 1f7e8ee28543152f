"""How fast the Slack app acknowledges a burst of signed requests (target: p99 under 200 ms).

Runs a whole Switchboard with the web app served by uvicorn on a loopback port
(as `switchboard up` / `switchboard web` serve it: access log off, uvloop and
httptools) and the Slack Web API faked on another, opens one ticket, then fires
a burst of signed requests at /slack/events all at once: half Events API
messages in the card's thread (each becomes an internal note, worked on after
the answer), half card button presses. It measures the time from sending each
request to its HTTP answer (which comes only after the event is committed), and
prints the figures for two deployments:

- embedded (`switchboard up`): SQLite, the 4 worker threads in the web process,
  on the in-process broker;
- scaled (the Procfile): PostgreSQL (a throwaway database on
  SWITCHBOARD_TEST_POSTGRES_URL's server, unless --database-url), the web role in
  one process with no workers, and `switchboard worker` in another, on a shared
  broker (Redis by default; skipped when none answers at --broker-url).

    .venv/bin/python bench/slack_ack.py [--requests 200] [--database-url URL]
        [--broker-url redis://127.0.0.1:6379/0] [--only embedded|scaled] [--web-only]

``--web-only`` runs the embedded deployment with its workers stopped once the
card is posted (the events stay stored, unprocessed): the web path alone.
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
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.support import ScratchDatabase, free_port  # noqa: E402
from channels.fake import FakeChannel  # noqa: E402
from channels.slack.models import SlackCard  # noqa: E402
from config.runtime import System, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core import staff  # noqa: E402
from core.models import Agent, InboundRecord, InboundStatus, Ticket  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402
from tests.slack_support import SIGNING_SECRET, sign  # noqa: E402

CHANNEL = "CBENCH01"


def wait(check, timeout: float = 30.0) -> None:
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


def bench_settings(
    role: str, api_url: str, data: str, database_url: str, broker_url: str, queue: str
):
    return load_settings(
        data_dir=Path(data),
        database_url=database_url,
        secret_key="bench",
        worker_threads=4,
        log_level="WARNING",
        broker_url="memory://" if role == "embedded" else broker_url,
        broker_queue=queue,
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api_url,
        slack_default_channel=CHANNEL,
        slack_undo_seconds=30,
    )


def serve(
    role: str, port: int, api_url: str, data: str, database_url: str, broker_url: str, queue: str
) -> None:
    """One process of the deployment: ``embedded`` (web and workers), ``web`` (no workers) or ``worker``."""
    settings = bench_settings(role, api_url, data, database_url, broker_url, queue)
    system = System(settings)
    if role == "worker":  # what `switchboard worker` runs
        system.start_workers()
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.read()
        system.stop()
        return
    if role == "embedded":
        system.start_workers()
    web = system.web_app()
    server = uvicorn.Server(
        uvicorn.Config(
            web, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=2048
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    wait(lambda: server.started)
    with system.ctx.db.transaction() as session:
        ana = Agent(name="Ana", email="ana@bench.example", roles=["agent"])
        session.add(ana)
        session.flush()
        staff.set_address(session, ana, "slack", "UANA")
    FakeChannel(system.ctx).receive(
        "plant-7", "Press 3 stopped, error E42", subject="Press 3 is down"
    )

    def card_ts() -> str | None:
        with system.ctx.db.reading() as session:
            return session.execute(select(SlackCard.ts)).scalar_one_or_none()

    wait(card_ts)
    if os.environ.get("BENCH_NO_WORK") and system.worker:
        system.worker.stop()
    with system.ctx.db.reading() as session:
        number = session.execute(select(Ticket)).scalar_one().number
    print(
        json.dumps(
            {
                "ts": card_ts(),
                "number": number,
                "db": settings.effective_database_url.split(":")[0],
                "loop": "uvloop" if find_spec("uvloop") else "asyncio",
                "http": "httptools" if find_spec("httptools") else "h11",
            }
        ),
        flush=True,
    )
    for (
        _line
    ) in sys.stdin:  # the parent asks whether the events are all worked on, then closes stdin
        with system.ctx.db.reading() as session:
            pending = session.execute(
                select(func.count())
                .select_from(InboundRecord)
                .where(
                    InboundRecord.channel == "slack", InboundRecord.status == InboundStatus.PENDING
                )
            ).scalar_one()
        print(json.dumps({"pending": pending}), flush=True)
    server.should_exit = True
    system.stop()


def forget_queue(url: str, queue: str) -> None:
    """Leave nothing of this run on a shared Redis (delayed messages, acks of the stopped worker)."""
    if not url.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*:{queue}*"):
        client.delete(key)
    client.close()


def broker_answers(url: str) -> bool:
    host, _, port = url.split("//", 1)[-1].split("/", 1)[0].rpartition("@")[2].partition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A new database on SWITCHBOARD_TEST_POSTGRES_URL's server (dropped after), or None if none answers."""
    try:
        database = ScratchDatabase()
    except Exception:  # noqa: BLE001 - no server: the caller falls back to SQLite
        yield None
        return
    try:
        yield database.url
    finally:
        database.drop()


def run(mode: str, args: argparse.Namespace) -> bool:
    """One deployment under one burst; prints its figures and returns whether the target is met."""
    if mode == "scaled" and not args.database_url:
        # The scaled deployment runs on PostgreSQL: two processes writing one SQLite file
        # wait for each other's write lock, which is what SQLite is not chosen for.
        with throwaway_postgres() as url:
            if url is None:
                print(
                    "scaled: no PostgreSQL answers at SWITCHBOARD_TEST_POSTGRES_URL; using SQLite shared by two processes"
                )
            return _run(mode, argparse.Namespace(**{**vars(args), "database_url": url or ""}))
    return _run(mode, args)


def _run(mode: str, args: argparse.Namespace) -> bool:
    fake = FakeSlack()
    fake.start()
    data = tempfile.mkdtemp(prefix="sb-bench-")
    port = free_port()
    queue = f"sbbench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BENCH_NO_WORK": "1"} if args.web_only else dict(os.environ)
    migrate(bench_settings(mode, fake.url, data, args.database_url, args.broker_url, queue))

    def start(role: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                role,
                str(port),
                fake.url,
                data,
                "--database-url",
                args.database_url,
                "--broker-url",
                args.broker_url,
                "--queue",
                queue,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    worker = None
    if mode == "scaled":
        worker = start("worker")
        assert worker.stdout is not None
        worker.stdout.readline()
    child = start("web" if mode == "scaled" else "embedded")
    assert child.stdin is not None and child.stdout is not None
    ready = json.loads(child.stdout.readline())
    ts, number = ready["ts"], ready["number"]

    def event_body(i: int) -> tuple[str, str]:
        event = {
            "type": "message",
            "user": "UANA",
            "text": f"note: burst {i}",
            "ts": f"1800000000.{i:06d}",
            "channel": CHANNEL,
            "channel_type": "channel",
            "thread_ts": ts,
        }
        return json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event_id": f"EvB{i:05d}",
                "event_time": int(time.time()),
                "event": event,
            }
        ), "application/json"

    def action_body(i: int) -> tuple[str, str]:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0001"},
            "user": {"id": "UANA"},
            "api_app_id": "A0001",
            "trigger_id": f"trig-{uuid.uuid4().hex[:8]}",
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "channel_id": CHANNEL, "message_ts": ts},
            "actions": [
                {
                    "type": "button",
                    "action_id": "sb_copy_link",
                    "value": number,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"

    bodies = [
        ("event", *event_body(i)) if i % 2 == 0 else ("interaction", *action_body(i))
        for i in range(args.requests)
    ]
    signed = [(kind, body, {"Content-Type": ctype, **sign(body)}) for kind, body, ctype in bodies]

    def raw_request(body: str, headers: dict[str, str]) -> bytes:
        lines = [
            "POST /slack/events HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            f"Content-Length: {len(body.encode())}",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body.encode()

    requests = [(kind, raw_request(body, headers)) for kind, body, headers in signed]

    async def burst() -> list[tuple[str, int, float]]:
        # A lean HTTP/1.1 client on asyncio streams (a heavy client would measure itself).
        # Slack keeps its connections open: open them all first, then fire the burst at once.
        conns = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in requests)
        )

        async def one(
            kind: str, raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> tuple[str, int, float]:
            started = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            elapsed = (time.perf_counter() - started) * 1000
            writer.close()
            return kind, int(lines[0].split()[1]), elapsed

        return await asyncio.gather(
            *(one(kind, raw, *conn) for (kind, raw), conn in zip(requests, conns, strict=True))
        )

    started = time.perf_counter()
    results = asyncio.run(burst())
    wall = time.perf_counter() - started

    if mode == "scaled":
        where = "scaled: the web role alone in its process, " + (
            "no workers anywhere (web path only)"
            if args.web_only
            else "4 worker threads in a separate worker process, broker "
            + args.broker_url.split("@")[-1]
        )
    else:
        where = "embedded: " + (
            "workers stopped (web path only)"
            if args.web_only
            else "4 worker threads in the web process, in-process broker"
        )
    print(
        f"Slack acknowledgement latency, {where}: a burst of {len(results)} signed requests, all sent at once over open connections, to /slack/events ({ready['db']}, uvicorn {ready['loop']}/{ready['http']})"
    )
    ok = True
    for kind in ("event", "interaction", "all"):
        times = [ms for k, _, ms in results if kind in ("all", k)]
        statuses = {s for k, s, _ in results if kind in ("all", k)}
        p99 = percentile(times, 99)
        print(
            f"  {kind:<12} n={len(times):<4} p50={percentile(times, 50):7.1f} ms  p95={percentile(times, 95):7.1f} ms  p99={p99:7.1f} ms  max={max(times):7.1f} ms  mean={statistics.mean(times):7.1f} ms  HTTP {sorted(statuses)}"
        )
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
        print(
            f"  all {len([b for b in bodies if b[0] == 'event'])} events and {len([b for b in bodies if b[0] != 'event'])} presses worked on by the workers within {drained:.1f} s of the burst"
        )
    child.stdin.close()
    child.wait(30)
    if worker is not None:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(30)
        forget_queue(args.broker_url, queue)
    fake.stop()
    print(f"  target p99 < 200 ms: {'met' if ok else 'NOT met'}", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default="",
        help="default: SQLite in a temporary directory (embedded), a throwaway PostgreSQL database (scaled)",
    )
    parser.add_argument(
        "--broker-url",
        default="redis://127.0.0.1:6379/0",
        help="the shared broker of the scaled run",
    )
    parser.add_argument(
        "--only", choices=("embedded", "scaled"), help="run one deployment (default: both)"
    )
    parser.add_argument(
        "--web-only",
        action="store_true",
        help="embedded, with the workers stopped once the card is posted: the web path alone",
    )
    parser.add_argument(
        "--serve", nargs=4, metavar=("ROLE", "PORT", "API_URL", "DATA_DIR"), help=argparse.SUPPRESS
    )
    parser.add_argument("--queue", default="switchboard", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        role, port, api_url, data = args.serve
        serve(role, int(port), api_url, data, args.database_url, args.broker_url, args.queue)
        return
    results: dict[str, bool] = {}
    modes = ["embedded"] if args.web_only else [args.only] if args.only else ["embedded", "scaled"]
    for mode in modes:
        if mode == "scaled" and not args.web_only and not broker_answers(args.broker_url):
            print(f"scaled: skipped, no broker answers at {args.broker_url} (--broker-url)")
            continue
        results[mode] = run(mode, args)
    print(
        "Target p99 < 200 ms: "
        + "; ".join(f"{mode} {'met' if ok else 'NOT met'}" for mode, ok in results.items())
    )
    sys.exit(0 if results and all(results.values()) else 1)


if __name__ == "__main__":
    main()
