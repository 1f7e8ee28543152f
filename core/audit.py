"""Append-only, hash-chained audit events with periodic checkpoints.

One chain per ticket (``ticket:ID``) and one ``system`` chain, so busy tickets never
serialize each other. Every event's hash covers its content and the previous hash;
checkpoints record every chain's head so a deleted chain, or a cut-off tail before
the last checkpoint, is noticed too.

Erasure (a client's right to be forgotten) without a broken chain: an event's hash
covers a salted SHA-256 digest of its data, not the data (``sealed_hash``), and the
salt is stored beside it. ``erase`` empties the data, drops the salt and keeps the
digest: the hash still verifies, and without the salt the digest tells nothing
about what was there (no guessing a name and hashing it). Each erasure writes one
``audit_erased`` event on the ``system`` chain naming every event it emptied (chain,
seq, hash), which is how ``verify`` tells an erased event ("erased on DATE by WHO")
from one whose content was removed or changed by anyone else. Events written before
migration ``0018_privacy`` hash their data directly (``event_hash``); they verify as
before, and once erased their hash is vouched for by the erasure record, which
checked it when it emptied them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import transaction_cache
from core.models import AuditChainHead, AuditCheckpoint, AuditEvent, utcnow

GENESIS = "0" * 64
ERASURE = "audit_erased"  # the system chain's record of one erasure


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False
    ).encode()


def _hash(
    chain: str,
    seq: int,
    ticket_id: int | None,
    actor: str,
    action: str,
    created_at: datetime,
    prev_hash: str,
    content: dict[str, Any],
) -> str:
    payload = {
        "chain": chain,
        "seq": seq,
        "ticket_id": ticket_id,
        "actor": actor,
        "action": action,
        **content,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "prev": prev_hash,
    }
    return hashlib.sha256(_canonical(payload)).hexdigest()


def event_hash(
    chain: str,
    seq: int,
    ticket_id: int | None,
    actor: str,
    action: str,
    data: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> str:
    """The hash of an event written before ``0018_privacy``: over its data itself."""
    return _hash(chain, seq, ticket_id, actor, action, created_at, prev_hash, {"data": data})


def data_digest(salt: str, data: dict[str, Any]) -> str:
    """The salted digest of an event's data, which its hash covers."""
    return hashlib.sha256(bytes.fromhex(salt) + _canonical(data)).hexdigest()


def sealed_hash(
    chain: str,
    seq: int,
    ticket_id: int | None,
    actor: str,
    action: str,
    digest: str,
    created_at: datetime,
    prev_hash: str,
) -> str:
    """The hash of an event: over everything it says, its data by ``data_digest``."""
    return _hash(
        chain, seq, ticket_id, actor, action, created_at, prev_hash, {"data_digest": digest}
    )


def _recomputed(ev: AuditEvent) -> str | None:
    """The hash the event's stored content gives; None for an erased event written
    before digests (nothing left to recompute it from)."""
    if ev.salt is not None:
        digest: str | None = data_digest(ev.salt, ev.data)
    else:
        digest = ev.data_digest
    if digest is not None:
        return sealed_hash(
            ev.chain, ev.seq, ev.ticket_id, ev.actor, ev.action, digest, ev.created_at, ev.prev_hash
        )
    if ev.erased_at is not None:
        return None
    return event_hash(
        ev.chain, ev.seq, ev.ticket_id, ev.actor, ev.action, ev.data, ev.created_at, ev.prev_hash
    )


def chain_for(ticket_id: int | None) -> str:
    return f"ticket:{ticket_id}" if ticket_id is not None else "system"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    ticket_id: int | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event to its chain, in the caller's transaction.

    The event is written with the session's next flush (any query flushes first),
    so many events in one transaction go to the database together.
    """
    chain = chain_for(ticket_id)
    data = json.loads(_canonical(data or {}))  # what is hashed is exactly what is stored
    created_at = now or utcnow()
    head = _lock_head(session, chain)
    seq = head.seq + 1
    salt = secrets.token_hex(16)
    digest = sealed_hash(
        chain, seq, ticket_id, actor, action, data_digest(salt, data), created_at, head.hash
    )
    event = AuditEvent(
        chain=chain,
        seq=seq,
        ticket_id=ticket_id,
        actor=actor,
        action=action,
        data=data,
        created_at=created_at,
        prev_hash=head.hash,
        hash=digest,
        salt=salt,
    )
    session.add(event)
    head.seq, head.hash = seq, digest
    if inspect(head).transient:  # a chain started in this transaction (start_chain)
        session.add(head)
    return event


HEADS = "audit_heads"  # the chain heads this transaction has locked, by chain


def lock_heads(session: Session, ticket_ids: list[int]) -> None:
    """Lock the existing heads of several tickets' chains in one statement (in chain
    order, as every batch does), so the events that follow need no query of their own."""
    chains = sorted({chain_for(t) for t in ticket_ids} - set(transaction_cache(session, HEADS)))
    if not chains:
        return
    found = session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.chain.in_(chains))
        .order_by(AuditChainHead.chain)
        .with_for_update()
    ).scalars()
    transaction_cache(session, HEADS).update({h.chain: h for h in found})


def start_chain(session: Session, ticket_id: int) -> None:
    """A ticket created in this transaction starts its chain here, with no query for a
    head that cannot exist. The head row is written with the chain's first event (one
    INSERT with its sequence and hash, not an INSERT and then an UPDATE)."""
    chain = chain_for(ticket_id)
    held: dict[str, AuditChainHead] = transaction_cache(session, HEADS)
    if chain not in held:
        held[chain] = AuditChainHead(chain=chain, seq=0, hash=GENESIS)


def _lock_head(session: Session, chain: str) -> AuditChainHead:
    """Lock a chain's head row, creating it (race-free) for a new chain; once locked,
    a head stays locked (and known) until the transaction ends."""
    held: dict[str, AuditChainHead] = transaction_cache(session, HEADS)
    if chain in held:
        return held[chain]
    query = select(AuditChainHead).where(AuditChainHead.chain == chain).with_for_update()
    head = session.execute(query).scalar_one_or_none()
    if head is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(AuditChainHead).values(chain=chain, seq=0, hash=GENESIS).on_conflict_do_nothing()
        )
        head = session.execute(query).scalar_one()
    held[chain] = head
    return head


def _checkpoint_hash(heads: dict[str, Any], created_at: datetime, prev: str) -> str:
    return hashlib.sha256(
        _canonical(
            {
                "heads": heads,
                "created_at": created_at.isoformat(timespec="microseconds"),
                "prev": prev,
            }
        )
    ).hexdigest()


def checkpoint(session: Session, *, now: datetime | None = None) -> AuditCheckpoint:
    """Snapshot every chain's head into a new chained checkpoint."""
    heads = {
        h.chain: [h.seq, h.hash]
        for h in session.execute(select(AuditChainHead).where(AuditChainHead.seq > 0)).scalars()
    }
    last = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last.hash if last else GENESIS
    created_at = now or utcnow()
    cp = AuditCheckpoint(
        heads=heads,
        created_at=created_at,
        prev_hash=prev,
        hash=_checkpoint_hash(heads, created_at, prev),
    )
    session.add(cp)
    session.flush()
    return cp


def erase(
    session: Session,
    events: list[AuditEvent],
    *,
    actor: str,
    about: dict[str, Any],
    now: datetime | None = None,
) -> AuditEvent:
    """Empty the data of ``events`` (a client's personal data), keeping what their
    hashes cover, and record the erasure on the ``system`` chain, in the caller's
    transaction. ``about`` says whose data and why; it must hold no personal data.
    Returns the erasure record.

    An event whose stored content no longer gave its hash when erased is emptied too
    (the law asks for it) but named ``broken`` in the record, so ``verify`` keeps
    reporting the tampering the erasure would otherwise hide.
    """
    now = now or utcnow()
    named: list[list[Any]] = []
    broken: list[list[Any]] = []
    for ev in events:
        if ev.erased_at is not None:
            continue
        if _recomputed(ev) != ev.hash:
            broken.append([ev.chain, ev.seq])
        if ev.salt is not None:
            ev.data_digest = data_digest(ev.salt, ev.data)
        ev.data, ev.salt, ev.erased_at, ev.erased_by = {}, None, now, actor[:120]
        named.append([ev.chain, ev.seq, ev.hash])
    session.flush()
    return record(
        session,
        actor=actor,
        action=ERASURE,
        data={**about, "events": named, "broken": broken},
        now=now,
    )


@dataclass
class VerifyReport:
    events: int = 0
    chains: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)  # "chain: event N (action) erased on ..."

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "chains": self.chains,
            "checkpoints": self.checkpoints,
            "problems": self.problems,
            "erased": self.erased,
        }


@dataclass(frozen=True)
class _Erasure:
    hash: str
    at: datetime
    by: str
    broken: bool


def _erasures(session: Session) -> dict[tuple[str, int], _Erasure]:
    """Every event the system chain's erasure records name (their own integrity is
    checked with the rest of the chain)."""
    found: dict[tuple[str, int], _Erasure] = {}
    rows = session.execute(
        select(AuditEvent)
        .where(AuditEvent.chain == "system", AuditEvent.action == ERASURE)
        .order_by(AuditEvent.seq)
    ).scalars()
    for ev in rows:
        broken = {(c, n) for c, n in ev.data.get("broken", [])}
        for chain, seq, digest in ev.data.get("events", []):
            found[(chain, seq)] = _Erasure(digest, ev.created_at, ev.actor, (chain, seq) in broken)
    return found


def _check_erased(ev: AuditEvent, known: _Erasure | None, report: VerifyReport) -> None:
    where = f"{ev.chain}: event {ev.seq} ({ev.action})"
    if known is None:
        report.problems.append(
            f"{where} has had its content removed, and no erasure on the system chain names it"
        )
        return
    when = f"erased on {ev.erased_at:%Y-%m-%d %H:%M} UTC by {ev.erased_by}"
    if (known.hash, known.at, known.by) != (ev.hash, ev.erased_at, ev.erased_by) or ev.data:
        report.problems.append(f"{where} was changed after it was {when}")
    elif known.broken:
        report.problems.append(f"{where} had been edited before it was {when}")
    else:
        report.erased.append(f"{where} {when}")


def verify(session: Session) -> VerifyReport:
    """Recompute every chain and checkpoint; report each break with where it is, and
    each erased event with when and by whom."""
    report = VerifyReport()
    erasures = _erasures(session)
    seen: dict[str, dict[int, str]] = {}
    last: dict[str, tuple[int, str]] = {}
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)).scalars()
    for ev in rows:
        report.events += 1
        expected_seq, prev = last.get(ev.chain, (0, GENESIS))
        if ev.seq != expected_seq + 1:
            report.problems.append(
                f"{ev.chain}: event {expected_seq + 1} is missing (next found is {ev.seq})"
            )
        elif ev.prev_hash != prev:
            report.problems.append(
                f"{ev.chain}: event {ev.seq} does not link to event {expected_seq}"
            )
        recomputed = _recomputed(ev)
        if recomputed is not None and recomputed != ev.hash:
            report.problems.append(
                f"{ev.chain}: event {ev.seq} ({ev.action}) was edited after it was written"
            )
        elif ev.erased_at is not None:
            _check_erased(ev, erasures.get((ev.chain, ev.seq)), report)
        elif (ev.chain, ev.seq) in erasures:
            report.problems.append(
                f"{ev.chain}: event {ev.seq} ({ev.action}) is named by an erasure "
                "but still holds its content"
            )
        seen.setdefault(ev.chain, {})[ev.seq] = ev.hash
        last[ev.chain] = (ev.seq, ev.hash)
    report.chains = len(seen)
    heads = {
        h.chain: (h.seq, h.hash)
        for h in session.execute(select(AuditChainHead).where(AuditChainHead.seq > 0)).scalars()
    }
    for chain, (seq, digest) in heads.items():
        if last.get(chain, (0, GENESIS)) != (seq, digest):
            report.problems.append(
                f"{chain}: head says event {seq}, chain ends at event {last.get(chain, (0, ''))[0]}"
            )
    prev = GENESIS
    for cp in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars():
        report.checkpoints += 1
        if (
            cp.prev_hash != prev
            or _checkpoint_hash(cp.heads, cp.created_at, cp.prev_hash) != cp.hash
        ):
            report.problems.append(
                f"checkpoint {cp.id} was edited or does not follow the one before"
            )
        prev = cp.hash
        for chain, (seq, digest) in cp.heads.items():
            if seen.get(chain, {}).get(seq) != digest:
                report.problems.append(
                    f"{chain}: event {seq} recorded by checkpoint {cp.id} is gone or changed"
                )
    return report
