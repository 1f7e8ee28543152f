"""Applying one notification: per alert, open, update or resolve its ticket, or nothing.

Runs inside the inbound record's transaction (the alerts channel's event handler),
so a notification is applied whole or not at all, and a failure parks its record.
Every decision compares the notification with what is known of each alert (the
``alerts`` row, locked): applying the same notification twice (a retry, a repeat)
changes nothing, and a record older than the one that last changed an alert (two
records decided out of order) is ignored for that alert.

| the alert is      | known as                  | its ticket is       | then                      |
|-------------------|---------------------------|---------------------|---------------------------|
| firing            | never seen                | -                   | open a ticket             |
| firing            | the same, nothing changed | any                 | nothing                   |
| firing            | changed, or fired again   | open or resolved    | append (reopens resolved) |
| firing            | changed, or fired again   | closed, or none     | open a new, linked ticket |
| resolved          | firing                    | not closed          | note; resolve if policy   |
| resolved          | resolved, or never seen   | -                   | nothing                   |
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import contacts
from core.alerts import text
from core.alerts.policy import AlertPolicy, config
from core.alerts.values import FIRING, AlertGroup, AlertIn
from core.context import Context
from core.models import Alert, AlertStatus, Ticket, TicketStatus
from core.principals import system
from core.rendering import plural
from core.tickets import conversation, opening, workflow
from core.tickets.lifecycle import OPEN_STATES

CHANNEL = "alerts"
WHO = system("alerts")
UNKNOWN = AlertStatus.UNKNOWN  # a row nothing was applied to yet


@dataclass(frozen=True)
class Notification:
    """The notification being applied: what each of its alerts is decided with."""

    ctx: Context
    session: Session
    policy: AlertPolicy
    group: AlertGroup
    record_id: int


def apply(ctx: Context, session: Session, group: AlertGroup, record_id: int) -> str:
    """Apply every alert of ``group`` (stored as inbound record ``record_id``); returns
    what was done, for the record's reason."""
    policy = config(ctx.policy)
    fingerprints = sorted({a.fingerprint for a in group.alerts})
    _claim(ctx, session, fingerprints)
    known: dict[str, Alert] = {}
    for start in range(0, len(fingerprints), 500):  # locked in one order, as every group does
        known.update(
            (a.fingerprint, a)
            for a in session.execute(
                select(Alert)
                .where(Alert.fingerprint.in_(fingerprints[start : start + 500]))
                .order_by(Alert.fingerprint)
                .with_for_update()
            ).scalars()
        )
    notification = Notification(ctx, session, policy, group, record_id)
    done: dict[str, list[str]] = defaultdict(list)
    for alert in group.alerts:
        row = known[alert.fingerprint]
        if row.last_record_id > record_id:
            done["older than what is known"].append(alert.name)
            continue
        decide = _firing if alert.status == FIRING else _resolved
        outcome = decide(notification, alert, row)
        done[outcome[0]].append(outcome[1])
    parts = [plural(len(group.alerts), "alert")]
    parts += [f"{what}: {', '.join(names)}" for what, names in done.items()]
    if group.truncated:
        parts.append(f"{group.truncated} left out by the sender (max_alerts)")
    return "; ".join(parts)


def _firing(n: Notification, alert: AlertIn, row: Alert) -> tuple[str, str]:
    ctx, session = n.ctx, n.session
    if row.status == UNKNOWN:
        opened = _open(n, alert, linked_from=None)
        _remember(n, row, alert, opened)
        return ("opened", opened.number)
    lines = text.changes(row, alert)
    if not lines:
        return ("unchanged", alert.name)
    ticket = _current(session, row.ticket_id)
    if ticket is None or ticket.status == TicketStatus.CLOSED:
        linked = ticket.id if ticket is not None else None
        ticket = _open(n, alert, linked_from=linked)
        outcome = ("opened", ticket.number)
    else:
        # The monitoring system "writes again": as a client's message would, this
        # reopens a resolved ticket; its SLA, card and audit follow as for any message.
        identity = contacts.find_or_create(session, CHANNEL, n.group.source, n.group.source_name)
        conversation.client_message(
            ctx,
            session,
            ticket,
            identity,
            text=text.changed(alert, lines),
            inbound_record_id=n.record_id,
        )
        outcome = ("updated", ticket.number)
    _remember(n, row, alert, ticket)
    return outcome


def _resolved(n: Notification, alert: AlertIn, row: Alert) -> tuple[str, str]:
    ctx, session = n.ctx, n.session
    if row.status == UNKNOWN:
        # Never seen firing (its notification may be decided later, out of order):
        # remember it resolved, so that older news of it changes nothing.
        _remember(n, row, alert, None)
        row.ends_at = alert.ends_at or ctx.now()
        return ("nothing to resolve", alert.name)
    if row.status == AlertStatus.RESOLVED:
        return ("nothing to resolve", alert.name)
    note = text.resolved(alert, row)
    row.status, row.ends_at = AlertStatus.RESOLVED, alert.ends_at or ctx.now()
    row.last_record_id, row.updated_at = n.record_id, ctx.now()
    ticket = _current(session, row.ticket_id)
    if ticket is None or ticket.status == TicketStatus.CLOSED:
        return ("resolved", alert.name)
    conversation.note(ctx, session, WHO, ticket, text=note)
    if n.policy.map(alert.labels).resolve and ticket.status in OPEN_STATES:
        workflow.resolve(
            ctx,
            session,
            WHO,
            ticket,
            code=n.policy.resolution_code,
            steps=f"{note} Resolved when the alert cleared (policy [alerts] resolve).",
            action="clear",
        )
    return ("resolved", ticket.number)


def _claim(ctx: Context, session: Session, fingerprints: list[str]) -> None:
    """Make sure a row exists for every fingerprint (``UNKNOWN`` when new), so that
    two notifications about a new alert decided at once wait for each other on it
    instead of both creating it. In fingerprint order, as every group does."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = ctx.now()
    for start in range(0, len(fingerprints), 500):
        rows = [
            {
                "fingerprint": fingerprint,
                "source": "",
                "name": "",
                "status": UNKNOWN,
                "labels": {},
                "annotations": {},
                "generator_url": "",
                "last_record_id": 0,
                "first_seen_at": now,
                "updated_at": now,
            }
            for fingerprint in fingerprints[start : start + 500]
        ]
        # The rows as parameters, not in the statement: its compiled form is cached.
        session.execute(insert(Alert).on_conflict_do_nothing(index_elements=["fingerprint"]), rows)


def _open(n: Notification, alert: AlertIn, *, linked_from: int | None) -> Ticket:
    mapped = n.policy.map(alert.labels)
    links = {
        name: value for name, value in (("asset", mapped.asset), ("site", mapped.site)) if value
    }
    return opening.open_ticket(
        n.ctx,
        n.session,
        WHO,
        subject=text.subject(alert),
        text=text.opening(alert, n.group),
        requester=(CHANNEL, n.group.source, n.group.source_name),
        priority=mapped.priority,
        category=mapped.category,
        queue=mapped.queue,
        links=links,
        linked_from_id=linked_from,
        inbound_record_id=n.record_id,
        send_ack=False,  # nothing is sent back to monitoring
    )


def _current(session: Session, ticket_id: int | None) -> Ticket | None:
    """The alert's ticket, locked; a merged one's target (its conversation moved there)."""
    seen: set[int] = set()
    ticket = session.get(Ticket, ticket_id, with_for_update=True) if ticket_id else None
    while ticket is not None and ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = session.get(Ticket, ticket.merged_into_id, with_for_update=True)
    return ticket


def _remember(n: Notification, row: Alert, alert: AlertIn, ticket: Ticket | None) -> None:
    group = n.group
    row.source, row.name, row.status = group.source, alert.name[:200], AlertStatus(alert.status)
    row.labels, row.annotations = dict(alert.labels), dict(alert.annotations)
    row.generator_url = alert.generator_url
    row.starts_at, row.ends_at = alert.starts_at, None
    row.ticket_id = ticket.id if ticket is not None else None
    row.asset_id = ticket.asset_id if ticket is not None else None
    row.last_record_id, row.updated_at = n.record_id, n.ctx.now()
