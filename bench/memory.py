"""Memory of `switchboard up` (embedded mode): idle, after N messages, and idle again.

Run: .venv/bin/python bench/memory.py [--messages 10000] [--clients 8]

Starts the real `switchboard up` (SQLite, in-process workers, SMTP on a free port,
acknowledgements delivered to the maildir), reads the resident memory of the
process and all its children from /proc, sends the corpus of bench/smtp_intake.py
over SMTP, waits until every message is decided and every acknowledgement sent,
and reads it again, then once more after the process has sat idle. The same
process does the intake and the deliveries, so the second figure is also the
memory of a worker after that many deliveries.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smtp_intake import Clients, corpus, free_port  # noqa: E402

BIN = Path(sys.executable).parent / "switchboard"


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


def backlog(root: Path) -> tuple[int, int, int]:
    """(inbound records, of which still pending, deliveries not yet sent)."""
    with sqlite3.connect(f"file:{root / 'switchboard.db'}?mode=ro", uri=True, timeout=30) as db:
        records = db.execute("SELECT count(*) FROM inbound_records").fetchone()[0]
        pending = db.execute(
            "SELECT count(*) FROM inbound_records WHERE status = 'pending'"
        ).fetchone()[0]
        unsent = db.execute(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
        ).fetchone()[0]
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


def main() -> None:
    items, clients = mail_to_send(__doc__, 10_000)
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
            clients.close()


if __name__ == "__main__":
    main()
