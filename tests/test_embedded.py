"""`switchboard up` as a newcomer runs it: one process, SQLite, in-process workers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from core.db import Database
from tests.harness import BIN, free_port, start_role, stop_process, wait_started

ROOT = Path(__file__).resolve().parent.parent


def test_switchboard_up_turns_an_api_request_into_an_audited_ticket_and_a_delivery(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_HTTP_PORT": str(port),
        "SWITCHBOARD_SMTP_PORT": str(free_port()),
        "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
    }
    for name in ("SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_BROKER_URL", "SWITCHBOARD_SECRET_KEY"):
        env.pop(name, None)
    log = tmp_path / "up.log"
    server = start_role(["up"], env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_started(server, log)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        added = subprocess.run(
            [str(BIN), "agents", "add", "Ana", "ana@example.com", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(added.stdout)["token"]
        response = httpx.post(
            f"{base}/api/tickets",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "subject": "Chiller alarm",
                "text": "Alarm 7 on chiller B.",
                "requester": {"channel": "fake", "address": "site-4", "name": "Ola"},
            },
        )
        assert response.status_code == 201, response.text
        outbox = tmp_path / "data" / "fake-outbox.jsonl"
        deadline = time.monotonic() + 20
        while not outbox.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = [json.loads(line) for line in outbox.read_text().splitlines()]
        assert [(d["kind"], d["recipient"]) for d in delivered] == [("ack", "site-4")]
        shown = subprocess.run(
            [str(BIN), "tickets", "show", "T-000001", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ticket = json.loads(shown.stdout)
        assert ticket["subject"] == "Chiller alarm"
        assert [e["action"] for e in ticket["audit"]] == ["open", "delivered"]
        assert ticket["deliveries"][0]["status"] == "sent"
        import sqlite3

        with sqlite3.connect(tmp_path / "data" / "switchboard.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        stop_process(server)


SETTLE = """
import gc, json, sys
from pathlib import Path
from starlette.testclient import TestClient
from config.runtime import System, migrate, settle_heap
from config.settings import load_settings

settings = load_settings(data_dir=Path(sys.argv[1]), secret_key="settle")
migrate(settings)
system = System(settings)
app = system.web_app()
tracked = len(gc.get_objects())
settle_heap()
left = len(gc.get_objects())

class Node:
    collected = False
    def __del__(self):
        Node.collected = True

a, b = Node(), Node()
a.other, b.other = b, a  # garbage only the cycle collector can free
del a, b
gc.collect()
with TestClient(app) as client:
    health = client.get("/healthz").status_code
system.stop()
print(json.dumps({"tracked": tracked, "left": left, "collected": Node.collected, "health": health}))
"""


def test_start_up_leaves_what_it_built_out_of_later_garbage_collections(tmp_path: Path) -> None:
    """`switchboard up` and the roles settle their heap once started: a later full pass of
    the cycle collector (every thread stopped while it runs) walks only what was made
    since, and garbage made since is still collected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    done = subprocess.run(
        [str(BIN.parent / "python"), "-c", SETTLE, str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["tracked"] > 50_000  # modules, mappers, settings, the app
    assert got["left"] < got["tracked"] / 10
    assert got["collected"] and got["health"] == 200


def test_the_embedded_database_writes_every_commit_to_disk_before_it_returns(
    tmp_path: Path,
) -> None:
    """What the SMTP edge answered 250 for, or a delivery marked sent, must survive a power
    loss, not only a crash of the process: SQLite's FULL synchronous mode (2), on the
    writers' connections and the readers'."""
    db = Database(f"sqlite:///{tmp_path / 'switchboard.db'}")
    try:
        with db.transaction() as session:
            assert session.execute(text("PRAGMA synchronous")).scalar_one() == 2
            assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        with db.reading() as session:
            assert session.execute(text("PRAGMA synchronous")).scalar_one() == 2
    finally:
        db.dispose()
