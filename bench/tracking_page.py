"""Benchmark: the client's tracking page of a ticket with a long conversation.

    .venv/bin/python bench/tracking_page.py [--messages 200] [--requests 500]

Embedded mode (what ``switchboard up`` runs by default): a throwaway data folder,
SQLite in WAL mode, the schema migrated. One ticket gets ``--messages`` messages
through the core actions (client messages and public replies in turn, an internal
note every tenth, a file on every twentieth) and a history (acknowledged,
assigned, on hold, resumed, escalated). Then ``--requests`` GETs of its tracking
page go through the web app (after 20 to warm up), and a middleware around the app
times each request from the moment the app receives it until its last byte is
handed back: the server time. Prints p50, p95, p99 and max (goal: p95 under 50 ms),
and the page's size. The folder is removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from bench.support import percentile  # noqa: E402
from channels.web.app import create_app  # noqa: E402
from config.runtime import build_context, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core.context import Context  # noqa: E402
from core.models import Agent  # noqa: E402
from core.principals import agent_principal, system  # noqa: E402
from core.tickets import conversation, lookup, opening, workflow  # noqa: E402
from core.values import AttachmentIn  # noqa: E402


class ServerTime:
    """ASGI middleware: the time from a request's arrival to its last body byte sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.append(time.perf_counter() - started)

        await self.app(scope, receive, timed_send)


def build_ticket(ctx: Context, messages: int) -> str:
    """One ticket with ``messages`` entries in its thread and a public history; its link."""
    with ctx.db.transaction() as s:
        agent = Agent(name="Dana Whitfield", email="dana@support.example", roles=["agent", "lead"])
        s.add(agent)
        s.flush()
        who = agent_principal(agent)
        ticket = opening.open_ticket(
            ctx,
            s,
            system(),
            subject="Packing line 2 stops every hour",
            text="It stops with E42 and restarts by itself.",
            requester=("fake", "client-1", "Lia Moreau"),
        )
        workflow.acknowledge(ctx, s, who, ticket)
        workflow.assign(ctx, s, who, ticket, assignee=agent)
        number = ticket.number
    for i in range(1, messages):
        with ctx.db.transaction() as s:
            ticket = lookup.get_ticket(s, number, lock=True)
            text = f"Message {i}: the line ran for {i} minutes, then E42 again.\n" * 3
            files = (
                (AttachmentIn(f"photo-{i}.png", "image/png", b"\x89PNG\r\n" + bytes(512)),)
                if i % 20 == 0
                else ()
            )
            if i % 10 == 0:
                conversation.note(ctx, s, who, ticket, text=f"INTERNAL {i}")
            elif i % 2:
                conversation.reply(ctx, s, who, ticket, text=text, attachments=files)
            else:
                identity = ticket.reply_identity
                assert identity is not None
                conversation.client_message(ctx, s, ticket, identity, text=text, attachments=files)
            if i == messages // 2:
                workflow.hold(ctx, s, who, ticket, reason="pending_parts", parts_ref="PO-1")
                workflow.resume(ctx, s, who, ticket)
                workflow.escalate(ctx, s, who, ticket, reason="by hand, for the benchmark")
    with ctx.db.reading() as s:
        return ctx.tracking_link(lookup.get_ticket(s, number).tracking_token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-tracking-") as folder:
        settings = load_settings(data_dir=Path(folder), secret_key="bench-secret")
        print(f"migrating an embedded (SQLite) database in {folder} ...", flush=True)
        migrate(settings)
        ctx = build_context(settings)
        started = time.perf_counter()
        link = build_ticket(ctx, args.messages)
        print(
            f"built a ticket with {args.messages} messages in {time.perf_counter() - started:.1f} s"
        )
        ctx.public_requests_per_minute = 0  # one client asking 500 times: not a guesser
        app = ServerTime(create_app(ctx))
        path = "/t/" + link.split("/t/", 1)[1]
        with TestClient(app) as web:
            for _ in range(20):
                first = web.get(path)
                assert first.status_code == 200, first.text[:500]
            assert "INTERNAL" not in first.text
            app.times.clear()
            for _ in range(args.requests):
                web.get(path)
        ms = [t * 1000 for t in app.times]
        print(
            f"tracking page, {args.messages} messages, {len(ms)} requests, "
            f"{len(first.content) / 1024:.0f} KiB each:"
        )
        print(
            f"  server time p50 {statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
            f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms (goal: p95 under 50 ms)"
        )
        ctx.db.dispose()


if __name__ == "__main__":
    main()
