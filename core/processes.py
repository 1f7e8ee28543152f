"""Which Switchboard processes are alive: each one is seen every few seconds.

A process registers when it starts and a thread of its own marks it seen every
``BEAT`` seconds; one not seen for ``DEAD_AFTER`` is taken for dead (killed, its
machine gone), and the work it had claimed is free for the others.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from core.context import Context
from core.db import report_outage
from core.models import LiveProcess

log = logging.getLogger(__name__)

BEAT = timedelta(seconds=3)
DEAD_AFTER = timedelta(seconds=12)


def new_id() -> str:
    """This process's id: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def alive(now: datetime) -> Select[Any]:
    """The ids of the processes seen lately (a subquery for claims)."""
    return select(LiveProcess.id).where(LiveProcess.seen_at >= now - DEAD_AFTER)


class Heartbeat:
    """Registers ``ctx.process_id`` and keeps it seen until ``stop``."""

    def __init__(self, ctx: Context, role: str) -> None:
        self.ctx = ctx
        self.role = role
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self._beat()
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        now = self.ctx.now()
        with self.ctx.db.transaction() as session:
            seen = session.execute(
                update(LiveProcess)
                .where(LiveProcess.id == self.ctx.process_id)
                .values(seen_at=now)
                .execution_options(synchronize_session=False)
            )
            if not getattr(seen, "rowcount", 0):
                session.add(
                    LiveProcess(id=self.ctx.process_id, role=self.role, started_at=now, seen_at=now)
                )
            # Forget processes long gone (their claims were freed long ago).
            session.execute(
                delete(LiveProcess)
                .where(LiveProcess.seen_at < now - 100 * DEAD_AFTER)
                .execution_options(synchronize_session=False)
            )

    def _run(self) -> None:
        while not self.stopping.wait(BEAT.total_seconds()):
            try:
                self._beat()
            except Exception as exc:  # noqa: BLE001 - the database may be away; try next beat
                if not report_outage(self.ctx.health, exc):
                    log.warning("could not mark this process alive", exc_info=True)

    def stop(self) -> None:
        """Stop beating and say goodbye (its claims are free at once)."""
        self.stopping.set()
        try:
            with self.ctx.db.transaction() as session:
                forget(session, self.ctx.process_id)
        except Exception:  # noqa: BLE001 - stopping anyway
            log.warning("could not unregister this process", exc_info=True)


def forget(session: Session, process_id: str) -> None:
    session.execute(
        delete(LiveProcess)
        .where(LiveProcess.id == process_id)
        .execution_options(synchronize_session=False)
    )
