"""Idempotency keys: a write sent twice under one key is done once.

A caller (one API token) names a write with a key of its choosing. The first
request under that key inserts a row (``idempotent_requests``, unique per caller
and key) before it runs; the answer is stored on the row when it is done. Later
requests under the key then get, in this order:

- ``Reused``: the key was used for another request (method, path or body differ);
- ``InProgress``: the first is still running;
- ``Replay``: the first one's stored answer, status and body.

Two processes racing with one key both try the insert; the database lets one
through. A row whose process died mid-request (``core.processes``) is taken over,
and a row past its ``expires_at`` (``Context.idempotency_ttl`` after it was made)
counts as absent and is removed by ``sweep``, one of the clock's steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Context
from core.models import IdempotentRequest
from core.processes import alive

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Request:
    """One write as the key's owner sent it."""

    caller: str  # SHA-256 of the caller's token
    key: str
    fingerprint: str  # SHA-256 of method, path and body
    method: str
    path: str


@dataclass(frozen=True)
class Started:
    """The key is new: this request runs, and ``finish`` or ``release`` follows."""

    row_id: int


@dataclass(frozen=True)
class InProgress:
    """The first request under the key is still running."""


@dataclass(frozen=True)
class Reused:
    """The key was first used for another request: ``method`` ``path``."""

    method: str
    path: str


@dataclass(frozen=True)
class Replay:
    """The first request's answer."""

    status_code: int
    body: bytes
    content_type: str


Outcome = Started | InProgress | Reused | Replay


def claim(ctx: Context, request: Request) -> Outcome:
    """Start ``request`` under its key, or say what the key already stands for."""
    for _ in range(5):
        now = ctx.now()
        try:
            with ctx.db.transaction() as session:
                row = IdempotentRequest(
                    caller=request.caller,
                    key=request.key,
                    fingerprint=request.fingerprint,
                    method=request.method,
                    path=request.path[:500],
                    state="running",
                    process_id=ctx.process_id,
                    content_type="",
                    created_at=now,
                    expires_at=now + ctx.idempotency_ttl,
                )
                session.add(row)
                session.flush()
                return Started(row.id)
        except IntegrityError:
            pass  # the key is taken: see by what
        outcome = _existing(ctx, request, now)
        if outcome is not None:
            return outcome
    # Taken and freed again five times over: another process is racing on the key.
    return InProgress()


def _existing(ctx: Context, request: Request, now: datetime) -> Outcome | None:
    """What the key's row says; None when it is gone or stale (freed for a new claim)."""
    with ctx.db.transaction() as session:
        row = session.execute(
            select(IdempotentRequest).where(
                IdempotentRequest.caller == request.caller, IdempotentRequest.key == request.key
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        stale = row.expires_at <= now or (
            row.state == "running"
            and row.process_id != ""
            and row.process_id != ctx.process_id
            and row.process_id not in set(session.execute(alive(now)).scalars())
        )
        if stale:
            log.info("idempotency key of a request expired or abandoned by a dead process: freed")
            session.delete(row)
            return None
        if row.fingerprint != request.fingerprint:
            return Reused(row.method, row.path)
        if row.state == "running":
            return InProgress()
        return Replay(row.status_code or 200, row.body or b"", row.content_type)


def finish(ctx: Context, row_id: int, status_code: int, body: bytes, content_type: str) -> None:
    """Store the answer of the request that ``claim`` started."""
    with ctx.db.transaction() as session:
        session.execute(
            update(IdempotentRequest)
            .where(IdempotentRequest.id == row_id)
            .values(state="done", status_code=status_code, body=body, content_type=content_type)
            .execution_options(synchronize_session=False)
        )


def release(ctx: Context, row_id: int) -> None:
    """Forget a started request that came to nothing (our error): the key is free again."""
    with ctx.db.transaction() as session:
        session.execute(
            delete(IdempotentRequest)
            .where(IdempotentRequest.id == row_id)
            .execution_options(synchronize_session=False)
        )


def sweep(ctx: Context) -> int:
    """Remove expired keys (a clock step); how many."""
    now = ctx.now()
    with ctx.db.transaction() as session:
        gone = session.execute(
            delete(IdempotentRequest)
            .where(IdempotentRequest.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
    count = int(getattr(gone, "rowcount", 0) or 0)
    if count:
        log.info("removed %d expired idempotency keys", count)
    return count
