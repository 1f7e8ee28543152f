"""Re-send work whose broker message may be lost: the database is the source of truth."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from core import audit, sending
from core.context import Context
from core.db import after_commit
from core.intake import recovery
from core.intake.records import hand_over_records

log = logging.getLogger(__name__)

PAGE = 500  # rows marked and handed over per transaction


def sweep(ctx: Context, older_than: timedelta) -> tuple[int, int]:
    """Hand overdue outbox rows and undecided inbound records to the workers again.

    Returns (deliveries, inbound records) re-sent. ``older_than=0`` re-sends all
    pending work, which is what a process does when it starts. Rows are taken a page
    at a time until none is left, so a backlog of any size is handed over at once
    (records in batches, as the front door hands them over).
    """
    now = ctx.now()
    deliveries = inbound = 0
    last_row = last_record = 0  # each page starts past the last, so none is taken twice
    while True:
        with ctx.db.transaction() as session:
            rows = sending.due_for_redelivery(session, now, older_than, PAGE, last_row)
            records = recovery.due_for_redelivery(session, now, older_than, PAGE, last_record)
            if rows or records:
                after_commit(session, partial(_send_all, ctx, rows, records))
        deliveries, inbound = deliveries + len(rows), inbound + len(records)
        last_row, last_record = max(rows, default=last_row), max(records, default=last_record)
        if len(rows) < PAGE and len(records) < PAGE:
            break
    if deliveries or inbound:
        log.info("re-sent %d deliveries and %d inbound records to the broker", deliveries, inbound)
    return deliveries, inbound


def _send_all(ctx: Context, rows: list[int], records: list[int]) -> None:
    for row_id in rows:
        ctx.dispatcher.send("deliver", row_id)
    hand_over_records(ctx, records)


def checkpoint(ctx: Context) -> None:
    with ctx.db.transaction() as session:
        audit.checkpoint(session, now=ctx.now())
