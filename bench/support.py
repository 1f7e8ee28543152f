"""What the benchmarks share: the test servers they use, a database of their own, free ports
and percentiles."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import uvicorn

    from config.runtime import System
    from config.settings import Settings

POSTGRES_URL = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values``; ``share`` 0.95 is the 95th."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(share * len(ordered) + 0.5)) - 1))]


def psycopg_dsn(url: str) -> str:
    """A database URL as SQLAlchemy takes it (``postgresql+psycopg://``), as psycopg does."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_rows(cur: Any, table: str, columns: tuple[str, ...], rows: Iterable[Any]) -> int:
    """COPY ``rows`` (tuples in the order of ``columns``) into ``table`` on the psycopg
    cursor ``cur``; returns how many."""
    count = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


class ScratchDatabase:
    """A new database on POSTGRES_URL's server for one run (``url``); ``drop()`` removes
    it, whoever is still connected. Raises when the server does not answer."""

    def __init__(self, prefix: str = "sb_bench") -> None:
        self.admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception:
            self.admin.dispose()
            raise
        self.url = (
            make_url(POSTGRES_URL).set(database=self.name).render_as_string(hide_password=False)
        )

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def serve_web(
    settings: Settings, port: int, *, workers: bool = True
) -> tuple[System, uvicorn.Server]:
    """Switchboard embedded: the schema migrated, its workers started (unless not
    ``workers``), and its web app served by uvicorn on 127.0.0.1:``port`` in a thread,
    once it answers (``should_exit = True`` stops the server)."""
    import uvicorn

    from config.runtime import System, migrate, settle_heap

    migrate(settings)
    system = System(settings)
    if workers:
        system.start_workers()

    server = uvicorn.Server(
        uvicorn.Config(
            system.web_app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            backlog=2048,
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    settle_heap()  # as `switchboard up` does once started
    return system, server


def stop_roles(processes: list[subprocess.Popen[bytes]], env: dict[str, str]) -> None:
    """Stop Switchboard role processes started with ``env`` (SIGTERM, then SIGKILL after
    30 s), and leave nothing of their queue on a shared Redis broker."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    if env["SWITCHBOARD_BROKER_URL"].startswith("redis"):
        import redis

        client = redis.Redis.from_url(env["SWITCHBOARD_BROKER_URL"])
        for key in client.scan_iter(match=f"*{env['SWITCHBOARD_BROKER_QUEUE']}*"):
            client.delete(key)
