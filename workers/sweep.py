"""Re-send work whose broker message may be lost: the database is the source of truth."""

from __future__ import annotations

import logging
from datetime import timedelta

from core import audit, outbox
from core.context import Context
from core.db import after_commit
from core.intake import recovery

log = logging.getLogger(__name__)


def sweep(ctx: Context, older_than: timedelta) -> tuple[int, int]:
    """Hand overdue outbox rows and undecided inbound records to the workers again.

    Returns (deliveries, inbound records) re-sent. ``older_than=0`` re-sends all
    pending work, which is what a process does when it starts.
    """
    now = ctx.now()
    with ctx.db.transaction() as session:
        rows = outbox.due_for_redelivery(session, now, older_than)
        records = recovery.due_for_redelivery(session, now, older_than)
        if rows or records:
            after_commit(session, lambda: _send_all(ctx, rows, records))
    if rows or records:
        log.info(
            "re-sent %d deliveries and %d inbound records to the broker", len(rows), len(records)
        )
    return len(rows), len(records)


def _send_all(ctx: Context, rows: list[int], records: list[int]) -> None:
    for row_id in rows:
        ctx.dispatcher.send("deliver", row_id)
    for record_id in records:
        ctx.dispatcher.send("process_inbound", record_id)


def checkpoint(ctx: Context) -> None:
    with ctx.db.transaction() as session:
        audit.checkpoint(session, now=ctx.now())
