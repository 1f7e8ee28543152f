"""A ticket as its client sees it: plain words for its state, the next promise as it
stands at this moment, and the public history (the tracking page, and the notices
sent when the ticket moves).

Everything here reads only what a client may see: the public thread (through
``lists.public_thread``), the ticket's own fields and the audit events of the
actions in ``PUBLIC_ACTIONS``; never an internal note, never another
participant's address (people are named by first name only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.context import Context
from core.models import (
    Agent,
    AuditEvent,
    Contact,
    Escalation,
    OutboxDelivery,
    ResolutionRecord,
    Ticket,
    TicketStatus,
)
from core.sla import ticket as sla
from core.tickets import lists
from core.tickets.lookup import follow_merges

PRIORITY_WORDS: dict[str, tuple[str, str]] = {
    "P1": ("Critical", "something important has stopped, or is unsafe"),
    "P2": ("High", "it works, but badly, or not for everyone"),
    "P3": ("Normal", "a fault you can work around for now"),
    "P4": ("Low", "a question, a request, or billing"),
}
HOLD_WORDS = {
    "waiting_on_client": "waiting for your answer",
    "pending_parts": "waiting for a part",
}
DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def first_name(name: str | None) -> str:
    """The first word of a name (how the client is told who works on their ticket)."""
    return (name or "").strip().split(" ", 1)[0]


def priority_words(priority: str) -> str:
    word, meaning = PRIORITY_WORDS.get(priority, (priority, ""))
    return f"{word} ({meaning})" if meaning else word


def hold_words(reason: str | None, note: str | None) -> str:
    """Why a ticket is on hold, in the client's words."""
    if reason in HOLD_WORDS:
        return HOLD_WORDS[reason]
    return (note or "").strip() or "waiting"


def review_words(reason: str | None, until: datetime | None) -> str:
    """When a ticket on hold will be looked at again (``until`` as UTC text when set;
    the page shows it in the client's time zone)."""
    if reason == "waiting_on_client":
        return "as soon as you answer"
    if until is not None:
        return f"by {until.strftime('%Y-%m-%d %H:%M')} UTC"
    if reason == "pending_parts":
        return "as soon as the part arrives"
    return "as soon as what we wait for is there"


def status_words(ticket: Ticket, assignee: str) -> str:
    """The ticket's state in plain words (``assignee``: a first name, or empty)."""
    status = ticket.status
    if status == TicketStatus.NEW:
        return "Received, waiting for review"
    if status == TicketStatus.ACKNOWLEDGED:
        return "Reviewed, waiting for someone to take it"
    if status in (TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS):
        return f"Assigned to {assignee}, who is working on it" if assignee else "Being worked on"
    if status == TicketStatus.ON_HOLD:
        return f"On hold: {hold_words(ticket.hold_reason, ticket.hold_note)}"
    if status == TicketStatus.RESOLVED:
        return "Resolved: here is what we did"
    return "Closed"


@dataclass(frozen=True)
class Promise:
    """One line of what we promised and where it stands.

    ``state``: ``due`` (not yet), ``met``, ``late`` (with an apology), ``paused``
    (on hold), ``escalated`` (the escalation notice's promise of news), ``done``.
    ``text`` holds ``{at}`` where ``at`` goes, shown in the client's time zone.
    """

    state: str
    text: str
    at: datetime | None = None


def _responded_at(ticket: Ticket) -> datetime | None:
    times = [t for t in (ticket.first_response_at, ticket.acknowledged_at) if t is not None]
    return min(times) if times else None


def promises(
    ctx: Context, session: Session, ticket: Ticket, now: datetime, last_reply: datetime | None
) -> list[Promise]:
    """What the client was promised and where each promise stands at ``now``."""
    if ticket.status in DONE:
        at = ticket.resolved_at or ticket.closed_at
        return [Promise("done", "Resolved {at}.", at)] if at else []
    out: list[Promise] = []
    responded = _responded_at(ticket)
    due = ticket.response_due_at
    if responded is None and due is not None:
        if now < due:
            out.append(Promise("due", "We aim to answer by {at}.", due))
        else:
            out.append(Promise("late", "We promised an answer by {at}. We are late: sorry.", due))
    elif responded is not None:
        if due is not None and responded > due:
            out.append(
                Promise(
                    "late",
                    "We answered {at}, later than we promised. Sorry for the wait.",
                    responded,
                )
            )
        else:
            out.append(Promise("met", "We answered {at}, as promised.", responded))
    if ticket.status == TicketStatus.ON_HOLD:
        out.append(
            Promise(
                "paused",
                "While it is on hold our clock is paused; we look at it again "
                f"{review_words(ticket.hold_reason, None)}.",
                None,
            )
            if ticket.hold_until is None
            else Promise(
                "paused",
                "While it is on hold our clock is paused; we look at it again by {at}.",
                ticket.hold_until,
            )
        )
    elif responded is not None and ticket.resolution_due_at is not None:
        fix = ticket.resolution_due_at
        if now < fix:
            out.append(Promise("due", "We aim to resolve it by {at}.", fix))
        else:
            out.append(Promise("late", "We aimed to resolve it by {at}. We are late: sorry.", fix))
    if ticket.escalated:
        news = _news_due(ctx, session, ticket, last_reply)
        if news is not None and now < news:
            out.append(
                Promise(
                    "escalated",
                    "It is escalated to the person on call: you will hear from us by {at}.",
                    news,
                )
            )
        elif news is not None:
            out.append(
                Promise(
                    "late",
                    "It is escalated to the person on call, and we owed you news by {at}. Sorry: it is coming.",
                    news,
                )
            )
    return out


def _news_due(
    ctx: Context, session: Session, ticket: Ticket, last_reply: datetime | None
) -> datetime | None:
    """The escalation notice promised news within the policy's ``client_update_minutes``
    of the escalation; every public reply since restarts that promise."""
    started = session.execute(
        select(func.max(Escalation.started_at)).where(Escalation.ticket_id == ticket.id)
    ).scalar_one()
    if started is None:
        return None
    chosen = sla.policy_for(ctx, ticket, session)
    minutes = (chosen.client_update_minutes if chosen else None) or 60
    since = max(started, last_reply) if last_reply is not None else started
    return since + timedelta(minutes=int(minutes))


EVENT_WORDS = {
    "open": "Request received",
    "acknowledge": "Reviewed by our team",
    "start": "Work started",
    "resume": "Work resumed",
    "resolve": "Resolved",
    "clear": "Resolved",
    "reopen": "Reopened",
    "close": "Closed",
    "escalate": "Escalated to the person on call",
    "merge": "Joined with another request of yours",
}


PUBLIC_ACTIONS = (*EVENT_WORDS, "assign", "hold")  # the audit events a client may see


def event_words(action: str, data: dict[str, object]) -> str:
    """One public event of the ticket's history in the client's words."""
    if action == "assign":
        return f"Assigned to {first_name(str(data.get('assignee_name') or '')) or 'an engineer'}"
    if action == "hold":
        return (
            f"Put on hold: {hold_words(str(data.get('reason') or ''), str(data.get('note') or ''))}"
        )
    return EVENT_WORDS.get(action, action.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Event:
    at: datetime
    text: str


@dataclass(frozen=True)
class Line:
    """One message of the public thread: who wrote it (``You``, a first name and
    ``support``, or another participant's first name), when, and its files."""

    id: int
    who: str
    outgoing: bool
    at: datetime
    text: str
    files: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class View:
    ticket: Ticket
    status: str
    assignee: str
    priority: str
    promises: list[Promise]
    events: list[Event]
    thread: list[Line]
    resolution: str
    can_reply: bool
    moved_to: tuple[str, str] | None = None  # merged: (number, tracking link) where it lives now


def view(ctx: Context, session: Session, ticket: Ticket) -> View:
    """The ticket as its client sees it now: five indexed statements."""
    now = ctx.now()
    thread = lists.public_thread(session, ticket.id)
    agent_ids = {m.author_agent_id for m in thread} | {ticket.assignee_id}
    contact_ids = {m.author_contact_id for m in thread} - {ticket.contact_id}
    agents = dict(
        session.execute(
            select(Agent.id, Agent.name).where(Agent.id.in_([i for i in agent_ids if i]))
        ).all()
    )
    others = dict(
        session.execute(
            select(Contact.id, Contact.name).where(Contact.id.in_([i for i in contact_ids if i]))
        ).all()
    )
    lines = []
    last_reply: datetime | None = None
    for m in thread:
        if m.direction == "out":
            last_reply = m.created_at
            name = first_name(agents.get(m.author_agent_id or 0))
            who = f"{name}, support" if name else "Support"
        elif m.author_contact_id in (None, ticket.contact_id):
            who = "You"
        else:
            who = first_name(others.get(m.author_contact_id or 0)) or "Someone else on this request"
        lines.append(Line(m.id, who, m.direction == "out", m.created_at, m.text, m.files))
    events = [
        Event(at, event_words(action, data or {}))
        for at, action, data in session.execute(
            select(AuditEvent.created_at, AuditEvent.action, AuditEvent.data)
            .where(AuditEvent.ticket_id == ticket.id, AuditEvent.action.in_(PUBLIC_ACTIONS))
            .order_by(AuditEvent.seq)
        ).all()
    ]
    resolution = ""
    if ticket.status in DONE:
        resolution = (
            session.execute(
                select(ResolutionRecord.steps)
                .where(ResolutionRecord.ticket_id == ticket.id)
                .order_by(ResolutionRecord.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            or ""
        )
    assignee = first_name(agents.get(ticket.assignee_id or 0))
    moved_to = None
    if ticket.merged_into_id:
        target = follow_merges(session, ticket)
        moved_to = (target.number, ctx.tracking_link(target.tracking_token))
    return View(
        ticket=ticket,
        status=status_words(ticket, assignee),
        assignee=assignee,
        priority=priority_words(ticket.priority),
        promises=promises(ctx, session, ticket, now, last_reply),
        events=events,
        thread=lines,
        resolution=resolution,
        can_reply=ticket.status != TicketStatus.CLOSED and ticket.merged_into_id is None,
        moved_to=moved_to,
    )


def notice_serial(session: Session, ticket: Ticket, kind: str) -> int:
    """The next serial of a notice a ticket can earn many times (assigned, on hold,
    reopened, a new link): one more than those queued so far."""
    return (
        session.execute(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.ticket_id == ticket.id, OutboxDelivery.kind == kind)
        ).scalar_one()
        + 1
    )
