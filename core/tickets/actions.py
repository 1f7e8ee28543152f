"""Core actions: the only way a ticket changes.

Each action runs inside the caller's transaction (``ctx.db.transaction()``) and
does, atomically: the lifecycle check, the change, the SLA refresh, the audit
event, observer hooks and the outbox rows for every side effect.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, blobs, contacts, outbox
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.escalation import chain as escalation
from core.events import Change
from core.models import (
    Agent,
    Attachment,
    Category,
    Identity,
    Message,
    Override,
    Participant,
    ResolutionCode,
    ResolutionRecord,
    SupportQueue,
    Ticket,
    as_id,
)
from core.principals import Principal, system
from core.rendering import humanize_minutes
from core.sla import ticket as sla
from core.tickets import lifecycle
from core.tickets.lifecycle import CLOSED, OVERRIDERS, RESOLVED
from core.tokens import tracking_token
from core.values import AttachmentIn

NUMBER_RE = re.compile(r"^\s*(?:#?T-?)?0*(\d+)\s*$", re.IGNORECASE)
MIN_OVERRIDE_REASON = 10
DANGEROUS_SUFFIXES = (
    ".exe",
    ".bat",
    ".cmd",
    ".com",
    ".scr",
    ".js",
    ".vbs",
    ".ps1",
    ".jar",
    ".msi",
    ".dll",
    ".lnk",
    ".hta",
    ".docm",
    ".xlsm",
    ".iso",
)


def parse_number(number: str | int) -> int:
    """``T-000123``, ``#T-123``, ``123`` -> 123."""
    match = NUMBER_RE.match(number) if isinstance(number, str) else None
    found = as_id(number if isinstance(number, int) else match.group(1) if match else "")
    if found is None:
        raise NotFound(f"'{number}' is not a ticket number (expected T-000123)")
    return found


def get_ticket(session: Session, number: str | int, *, lock: bool = False) -> Ticket:
    ticket = session.get(Ticket, parse_number(number), with_for_update=lock)
    if ticket is None:
        raise NotFound(f"ticket {number} does not exist")
    return ticket


# The shared steps ------------------------------------------------------------------


def _authorize(
    session: Session,
    who: Principal,
    ticket: Ticket | None,
    action: str,
    fields: dict[str, Any],
    override_reason: str | None,
    extra: Sequence[ActionRefused] = (),
) -> list[Override]:
    refusals = lifecycle.check(action, ticket, who.roles, fields) + list(extra)
    if not refusals:
        return []
    if (
        not override_reason
        or not (who.roles & OVERRIDERS)
        or who.agent_id is None
        or ticket is None
    ):
        first = refusals[0]
        if who.roles & OVERRIDERS:
            first.message += "; a lead may override it with a written reason"
        raise first
    if len(override_reason.strip()) < MIN_OVERRIDE_REASON:
        raise ActionRefused(
            "override.reason",
            f"an override needs a written reason of at least {MIN_OVERRIDE_REASON} characters",
            kind="field",
        )
    evidence = [
        Override(
            ticket_id=ticket.id,
            agent_id=who.agent_id,
            action=action,
            rule=r.rule,
            reason=override_reason.strip(),
        )
        for r in refusals
    ]
    session.add_all(evidence)
    return evidence


def _change(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    action: str,
    *,
    data: dict[str, Any] | None = None,
    override_reason: str | None = None,
    extra: Sequence[ActionRefused] = (),
    message_id: int | None = None,
    fields: dict[str, Any] | None = None,
    mutate: Any = None,
) -> Change:
    """Check, change status, refresh SLA, audit, tell observers."""
    fields = dict(fields or {})
    evidence = _authorize(session, who, ticket, action, fields, override_reason, extra)
    before = ticket.status
    after = lifecycle.ACTIONS[action].target_for(ticket)
    if mutate is not None:
        mutate()
    ticket.status = after
    ticket.updated_at = ctx.now()
    sla.refresh(ctx, ticket)
    payload: dict[str, Any] = {"from": before, "to": after, **(data or {})}
    if evidence:
        payload["override"] = {"reason": evidence[0].reason, "rules": [e.rule for e in evidence]}
    audit.record(
        session, actor=who.label, action=action, ticket_id=ticket.id, data=payload, now=ctx.now()
    )
    change = Change(action, ticket, who, before, after, payload, message_id)
    for observer in ctx.observers:
        observer(ctx, session, change)
    return change


def _fields(ticket: Ticket, ctx: Context, **more: Any) -> dict[str, Any]:
    contact = ticket.contact
    target = ctx.policy.sla.get(ticket.priority)
    response = ""
    if target and target.response_minutes:
        response = humanize_minutes(target.response_minutes)
        if target.hours != "24x7":
            response += " (business hours)"
    return {
        "ticket_number": ticket.number,
        "subject": ticket.subject,
        "priority": ticket.priority,
        "client_name": contact.name if contact else "",
        "tracking_link": ctx.tracking_link(ticket.tracking_token),
        "response_target": response,
        **more,
    }


def _add_message(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    direction: str,
    channel: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    author_identity: Identity | None = None,
    author_agent_id: int | None = None,
    external_id: str | None = None,
    inbound_record_id: int | None = None,
) -> Message:
    message = Message(
        ticket_id=ticket.id,
        kind=kind,
        direction=direction,
        channel=channel,
        body_text=text,
        body_html=html,
        author_contact_id=author_identity.contact_id if author_identity else None,
        author_identity_id=author_identity.id if author_identity else None,
        author_agent_id=author_agent_id,
        external_id=external_id,
        inbound_record_id=inbound_record_id,
        created_at=ctx.now(),
    )
    session.add(message)
    session.flush()
    for index, item in enumerate(attachments):
        flagged = None
        if index >= ctx.max_attachments:
            flagged = f"not kept: more than {ctx.max_attachments} attachments (the original message has it)"
        elif len(item.data) > ctx.max_attachment_bytes:
            flagged = f"not kept: larger than {ctx.max_attachment_bytes} bytes (the original message has it)"
        elif item.filename.lower().endswith(DANGEROUS_SUFFIXES):
            flagged = "dangerous file type: open with care"
        kept = not (flagged or "").startswith("not kept")
        digest = blobs.put(session, item.data) if kept else hashlib.sha256(item.data).hexdigest()
        session.add(
            Attachment(
                message_id=message.id,
                filename=item.filename[:300],
                content_type=item.content_type[:200],
                size=len(item.data),
                sha256=digest,
                inline=item.inline,
                flagged=flagged,
            )
        )
    return message


def _ensure_participant(
    session: Session, ticket: Ticket, contact_id: int, role: str = "cc"
) -> None:
    exists = session.execute(
        select(Participant.id).where(
            Participant.ticket_id == ticket.id, Participant.contact_id == contact_id
        )
    ).first()
    if not exists:
        session.add(Participant(ticket_id=ticket.id, contact_id=contact_id, role=role))


def _lookup(session: Session, model: Any, column: Any, value: str, what: str) -> Any:
    row = session.execute(select(model).where(column == value)).scalar_one_or_none()
    if row is None:
        raise ActionRefused(f"field.{what}", f"unknown {what} '{value}'", kind="field")
    return row


def _reference(
    ctx: Context, session: Session, model: type[SupportQueue] | type[Category], slug: str, what: str
) -> tuple[int, str]:
    """(id, slug) of a queue or category by slug; cached on the context (a slug
    keeps its id for good), unknown slugs are looked up every time."""
    key = (model.__tablename__, slug)
    found = ctx.refs.get(key)
    if found is None:
        row = _lookup(session, model, model.slug, slug, what)
        found = ctx.refs[key] = (row.id, row.slug)
    return found


# Opening and the thread ---------------------------------------------------------------


def open_ticket(
    ctx: Context,
    session: Session,
    who: Principal,
    *,
    subject: str,
    text: str,
    requester: tuple[str, str, str],
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    priority: str | None = None,
    category: str | None = None,
    queue: str | None = None,
    links: dict[str, str] | None = None,
    linked_from_id: int | None = None,
    inbound_record_id: int | None = None,
    external_id: str | None = None,
    send_ack: bool = True,
) -> Ticket:
    """Open a ticket for ``requester`` = (channel kind, address, display name)."""
    subject = (
        " ".join((subject or "").split())[:500]
        or (text.strip().splitlines() or ["(no subject)"])[0][:120]
    )
    lifecycle.check("open", None, who.roles, {"subject": subject})
    if who.kind == "client" and (priority or queue or category):
        raise ActionRefused(
            "open.client_fields", "clients cannot choose priority, queue or category", kind="role"
        )
    if priority is not None and priority not in lifecycle.PRIORITIES:
        raise ActionRefused(
            "priority.value",
            f"priority must be one of {', '.join(lifecycle.PRIORITIES)}",
            kind="field",
        )
    kind, address, name = requester
    if not address.strip():
        raise ActionRefused("field.requester", "the requester's address is required", kind="field")
    if who.kind != "system" and kind not in ctx.client_channels:
        # A person naming a channel this deployment does not run: the acknowledgement
        # and every reply would park. (Intake only ever names the channel it came by.)
        raise ActionRefused(
            "field.requester.channel",
            f"channel '{kind}' is not configured here; clients can be reached on: "
            f"{', '.join(sorted(ctx.client_channels))}",
            kind="field",
        )
    check = ctx.address_checks.get(kind) if who.kind != "system" else None
    if check is not None:  # a person typed it (intake names the sender as it came)
        try:
            check(address)
        except ValueError as exc:
            raise ActionRefused(
                "field.requester.address",
                f"'{address[:100]}' is not a {kind} address: {exc}",
                kind="field",
            ) from exc
    identity = contacts.find_or_create(session, kind, address, name)
    routing = ctx.policy.route(subject, text)
    queue_id, queue_slug = _reference(ctx, session, SupportQueue, queue or routing.queue, "queue")
    category_id, category_slug = _reference(
        ctx, session, Category, category or routing.category, "category"
    )
    chosen_priority = priority or routing.priority
    reason = f"set by {who.label}" if priority else routing.reasons.get("priority", "default")
    now = ctx.now()
    links = links or {}
    ticket = Ticket(
        subject=subject,
        status=lifecycle.NEW,
        priority=chosen_priority,
        priority_reason=reason,
        queue_id=queue_id,
        category_id=category_id,
        contact_id=identity.contact_id,
        organization_id=identity.contact.organization_id,
        channel=kind,
        requester_identity_id=identity.id,
        reply_identity_id=identity.id,
        tracking_token=tracking_token(),
        linked_from_id=linked_from_id,
        asset_ref=links.get("asset"),
        site_ref=links.get("site"),
        work_order_ref=links.get("work_order"),
        location=links.get("location"),
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    audit.start_chain(session, ticket.id)
    session.add(Participant(ticket_id=ticket.id, contact_id=identity.contact_id, role="requester"))
    message = _add_message(
        ctx,
        session,
        ticket,
        kind="public",
        direction="in",
        channel=kind,
        text=text,
        html=html,
        attachments=attachments,
        author_identity=identity,
        external_id=external_id,
        inbound_record_id=inbound_record_id,
    )
    sla.refresh(ctx, ticket)
    data = {
        "to": lifecycle.NEW,
        "priority": chosen_priority,
        "priority_reason": reason,
        "queue": queue_slug,
        "category": category_slug,
        "channel": kind,
        "requester": identity.id,
    }
    if linked_from_id:
        data["linked_from"] = linked_from_id
    audit.record(session, actor=who.label, action="open", ticket_id=ticket.id, data=data, now=now)
    if send_ack:
        rendered = ctx.renderer.render("ack", kind, **_fields(ticket, ctx))
        # The thread so far is the client's first message: nothing to look up.
        thread = {
            "references": [external_id] if external_id else [],
            "ticket_id": ticket.id,
        }
        outbox.to_client(
            ctx,
            session,
            ticket,
            kind="ack",
            rendered=rendered,
            automatic=True,
            key=f"ack:{ticket.id}",
            thread=thread,
        )
    change = Change("open", ticket, who, None, lifecycle.NEW, data, message.id)
    for observer in ctx.observers:
        observer(ctx, session, change)
    return ticket


def client_message(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    identity: Identity,
    *,
    text: str,
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    external_id: str | None = None,
    inbound_record_id: int | None = None,
) -> Message:
    """The client wrote again: append, reply on their channel, wake the ticket."""
    who = Principal("client", frozenset({"client"}), contact_id=identity.contact_id)
    message = _add_message(
        ctx,
        session,
        ticket,
        kind="public",
        direction="in",
        channel=identity.kind,
        text=text,
        html=html,
        attachments=attachments,
        author_identity=identity,
        external_id=external_id,
        inbound_record_id=inbound_record_id,
    )
    _ensure_participant(session, ticket, identity.contact_id)
    if identity.contact_id == ticket.contact_id or ticket.reply_identity_id is None:
        # The next reply goes where the client last wrote from (a copied participant's
        # message does not move it).
        ticket.reply_identity = identity
    _change(
        ctx,
        session,
        who,
        ticket,
        "client_reply",
        data={"message": message.id, "channel": identity.kind},
        fields={"text": text or "(attachment)"},
        message_id=message.id,
    )
    if ticket.status == RESOLVED:
        reopen(ctx, session, system("intake"), ticket, reason="the client wrote again")
    elif ticket.status == lifecycle.ON_HOLD and ticket.hold_reason == "waiting_on_client":
        resume(ctx, session, system("intake"), ticket)
    return message


def reply(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    text: str,
    html: str | None = None,
    attachments: Sequence[AttachmentIn] = (),
    external_id: str | None = None,
    delay_seconds: float = 0,
) -> Message:
    """A public reply from an agent, delivered to the client on their channel."""
    lifecycle.check("reply", ticket, who.roles, {"text": text})  # before writing the message
    channel = contacts.reply_channel(ctx, session, ticket, default="none")
    message = _add_message(
        ctx,
        session,
        ticket,
        kind="public",
        direction="out",
        channel=channel,
        text=text,
        html=html,
        attachments=attachments,
        author_agent_id=who.agent_id,
        external_id=external_id,
    )
    if ticket.first_response_at is None:
        ticket.first_response_at = ctx.now()
    data: dict[str, Any] = {"message": message.id}
    if delay_seconds > 0:
        data["delay_seconds"] = delay_seconds  # observers may offer an Undo for this long
    _change(
        ctx, session, who, ticket, "reply", data=data, fields={"text": text}, message_id=message.id
    )
    rendered = ctx.renderer.render(
        "reply",
        channel if channel != "none" else "default",
        **_fields(ticket, ctx, body=text, agent_name=who.name),
    )
    not_before = ctx.now() + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
    row = outbox.to_client(
        ctx,
        session,
        ticket,
        kind="reply",
        rendered=rendered,
        message=message,
        automatic=False,
        key=f"reply:{message.id}",
        not_before=not_before,
    )
    if row is None:
        audit.record(
            session,
            actor=who.label,
            action="reply_undeliverable",
            ticket_id=ticket.id,
            data={"message": message.id, "why": "the ticket has no client address"},
            now=ctx.now(),
        )
    return message


def note(ctx: Context, session: Session, who: Principal, ticket: Ticket, *, text: str) -> Message:
    """An internal note. It is a different kind all the way down: it never reaches a client."""
    lifecycle.check("note", ticket, who.roles, {"text": text})
    message = _add_message(
        ctx,
        session,
        ticket,
        kind="internal",
        direction="out",
        channel="internal",
        text=text,
        author_agent_id=who.agent_id,
    )
    _change(
        ctx,
        session,
        who,
        ticket,
        "note",
        data={"message": message.id},
        fields={"text": text},
        message_id=message.id,
    )
    return message


# Lifecycle ------------------------------------------------------------------------


def acknowledge(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    def mutate() -> None:
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = ctx.now()

    return _change(
        ctx, session, who, ticket, "acknowledge", override_reason=override_reason, mutate=mutate
    )


def assign(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    assignee: Agent,
    override_reason: str | None = None,
) -> Change:
    if not assignee.active:
        raise ActionRefused(
            "assign.inactive", f"{assignee.name} is not an active agent", kind="field"
        )

    def mutate() -> None:
        ticket.assignee_id = assignee.id
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = ctx.now()

    return _change(
        ctx,
        session,
        who,
        ticket,
        "assign",
        data={"assignee": assignee.id, "assignee_name": assignee.name},
        fields={"assignee": assignee.id},
        override_reason=override_reason,
        mutate=mutate,
    )


def start(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    return _change(ctx, session, who, ticket, "start", override_reason=override_reason)


def hold(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str,
    parts_ref: str | None = None,
    hold_note: str | None = None,
    override_reason: str | None = None,
) -> Change:
    def mutate() -> None:
        ticket.hold_reason = reason
        ticket.hold_parts_ref = parts_ref if reason == "pending_parts" else None
        ticket.hold_note = hold_note

    return _change(
        ctx,
        session,
        who,
        ticket,
        "hold",
        data={"reason": reason, "parts_ref": parts_ref, "note": hold_note},
        fields={"hold_reason": reason, "parts_ref": parts_ref, "hold_note": hold_note},
        override_reason=override_reason,
        mutate=mutate,
    )


def resume(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
) -> Change:
    def mutate() -> None:
        ticket.hold_reason = ticket.hold_parts_ref = ticket.hold_note = None

    return _change(
        ctx, session, who, ticket, "resume", override_reason=override_reason, mutate=mutate
    )


def _write_resolution(
    ctx: Context, session: Session, who: Principal, ticket: Ticket, code: str, steps: str
) -> None:
    code_row = session.execute(
        select(ResolutionCode).where(ResolutionCode.code == code, ResolutionCode.active.is_(True))
    ).scalar_one_or_none()
    if code_row is None:
        raise ActionRefused("resolve.code", f"unknown resolution code '{code}'", kind="field")
    session.add(
        ResolutionRecord(
            ticket_id=ticket.id,
            code=code,
            steps=steps.strip(),
            agent_id=who.agent_id,
            created_at=ctx.now(),
        )
    )


def resolve(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    code: str,
    steps: str,
    override_reason: str | None = None,
    notify_client: bool = True,
) -> Change:
    def mutate() -> None:
        _write_resolution(ctx, session, who, ticket, code, steps)
        ticket.resolved_at = ctx.now()
        ticket.hold_reason = ticket.hold_parts_ref = ticket.hold_note = None

    change = _change(
        ctx,
        session,
        who,
        ticket,
        "resolve",
        data={"code": code},
        fields={"resolution_code": code, "resolution_steps": steps},
        override_reason=override_reason,
        mutate=mutate,
    )
    if notify_client:
        rendered = ctx.renderer.render(
            "resolved",
            contacts.reply_channel(ctx, session, ticket),
            **_fields(ticket, ctx),
        )
        count = session.execute(
            select(ResolutionRecord.id).where(ResolutionRecord.ticket_id == ticket.id)
        ).all()
        outbox.to_client(
            ctx,
            session,
            ticket,
            kind="resolved",
            rendered=rendered,
            automatic=True,
            key=f"resolved:{ticket.id}:{len(count)}",
        )
    return change


def close(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    code: str | None = None,
    steps: str | None = None,
    override_reason: str | None = None,
) -> Change:
    """Close a resolved ticket. Closing one that was never resolved (a lead's
    override) still needs a resolution code and steps."""
    needs_resolution = ticket.status != RESOLVED

    def mutate() -> None:
        if needs_resolution:
            if not code or not steps or not steps.strip():
                raise ActionRefused(
                    "close.needs_resolution",
                    "closing an unresolved ticket needs a resolution code and steps",
                    kind="field",
                )
            _write_resolution(ctx, session, who, ticket, code, steps)
            ticket.resolved_at = ticket.resolved_at or ctx.now()
        ticket.closed_at = ctx.now()

    return _change(
        ctx,
        session,
        who,
        ticket,
        "close",
        data={"code": code} if code else {},
        override_reason=override_reason,
        mutate=mutate,
    )


def reopen(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str = "",
    override_reason: str | None = None,
) -> Change:
    def mutate() -> None:
        ticket.resolved_at = None
        ticket.closed_at = None

    return _change(
        ctx,
        session,
        who,
        ticket,
        "reopen",
        data={"reason": reason},
        override_reason=override_reason,
        mutate=mutate,
    )


# Fields ---------------------------------------------------------------------------


def set_priority(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    priority: str,
    reason: str = "",
    override_reason: str | None = None,
) -> Change:
    """Change priority. Lowering a P1 that a routing rule chose needs a lead's override."""
    extra = []
    if ticket.priority == "P1" and priority != "P1" and ticket.priority_reason.startswith("rule"):
        extra.append(
            ActionRefused(
                "priority.rule_p1",
                f"P1 was chosen by {ticket.priority_reason}; lowering it needs a lead's approval",
                kind="state",
                overridable=True,
            )
        )
    before = ticket.priority

    def mutate() -> None:
        ticket.priority = priority
        ticket.priority_reason = f"set by {who.label}: {reason}".strip().rstrip(":")

    return _change(
        ctx,
        session,
        who,
        ticket,
        "set_priority",
        data={"from_priority": before, "priority": priority, "reason": reason},
        fields={"priority": priority, "reason": reason},
        override_reason=override_reason,
        extra=extra,
        mutate=mutate,
    )


def set_category(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    category: str,
    override_reason: str | None = None,
) -> Change:
    row = _lookup(session, Category, Category.slug, category, "category")

    def mutate() -> None:
        ticket.category_id = row.id

    return _change(
        ctx,
        session,
        who,
        ticket,
        "set_category",
        data={"category": category},
        fields={"category": category},
        override_reason=override_reason,
        mutate=mutate,
    )


def set_queue(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    queue: str,
    override_reason: str | None = None,
) -> Change:
    row = _lookup(session, SupportQueue, SupportQueue.slug, queue, "queue")

    def mutate() -> None:
        ticket.queue_id = row.id

    return _change(
        ctx,
        session,
        who,
        ticket,
        "set_queue",
        data={"queue": queue},
        fields={"queue": queue},
        override_reason=override_reason,
        mutate=mutate,
    )


LINK_FIELDS = {
    "asset": "asset_ref",
    "site": "site_ref",
    "work_order": "work_order_ref",
    "location": "location",
}


def link(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    override_reason: str | None = None,
    **refs: str | None,
) -> Change:
    unknown = set(refs) - set(LINK_FIELDS)
    if unknown:
        raise ActionRefused(
            "link.fields", f"unknown link field(s): {', '.join(sorted(unknown))}", kind="field"
        )
    given = {k: v for k, v in refs.items() if v is not None}
    if not given:
        raise ActionRefused(
            "field.link", "give at least one of asset, site, work_order, location", kind="field"
        )

    def mutate() -> None:
        for name, value in given.items():
            setattr(ticket, LINK_FIELDS[name], value.strip() or None)

    return _change(
        ctx,
        session,
        who,
        ticket,
        "link",
        data=given,
        override_reason=override_reason,
        mutate=mutate,
    )


def merge(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    into: Ticket,
    override_reason: str | None = None,
) -> Change:
    """Merge ``ticket`` into ``into``: participants move over, the source closes."""
    if into.id == ticket.id:
        raise ActionRefused("merge.self", "a ticket cannot be merged into itself", kind="field")
    if into.status == CLOSED or into.merged_into_id:
        raise ActionRefused(
            "merge.target_closed",
            f"{into.number} is closed; merge into an open ticket",
            kind="state",
        )

    def mutate() -> None:
        ticket.merged_into_id = into.id
        ticket.closed_at = ctx.now()
        for contact_id in session.execute(
            select(Participant.contact_id).where(Participant.ticket_id == ticket.id)
        ).scalars():
            _ensure_participant(session, into, contact_id)

    change = _change(
        ctx,
        session,
        who,
        ticket,
        "merge",
        data={"into": into.id},
        fields={"into": into.id},
        override_reason=override_reason,
        mutate=mutate,
    )
    message = _add_message(
        ctx,
        session,
        into,
        kind="system",
        direction="out",
        channel="internal",
        text=f"{ticket.number} was merged into this ticket by {who.name or who.label}.",
        author_agent_id=who.agent_id,
    )
    into.updated_at = ctx.now()
    audit.record(
        session,
        actor=who.label,
        action="merged_in",
        ticket_id=into.id,
        data={"from_ticket": ticket.id, "message": message.id},
        now=ctx.now(),
    )
    return change


def escalate(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket,
    *,
    reason: str,
    override_reason: str | None = None,
) -> Change:
    """Mark the ticket escalated and start its escalation chain (unless one is running)."""
    return escalate_many(ctx, session, who, [(ticket, reason)], override_reason=override_reason)[0]


def escalate_many(
    ctx: Context,
    session: Session,
    who: Principal,
    items: list[tuple[Ticket, str]],
    *,
    override_reason: str | None = None,
) -> list[Change]:
    """``escalate`` for several tickets (a burst of SLA breaches): the chains start
    together, so each of their writes is one flush for the whole batch."""
    changes = []
    for ticket, reason in items:

        def mutate(ticket: Ticket = ticket) -> None:
            ticket.escalated = True

        changes.append(
            _change(
                ctx,
                session,
                who,
                ticket,
                "escalate",
                data={"reason": reason},
                override_reason=override_reason,
                mutate=mutate,
            )
        )
    escalation.start_many(ctx, session, items, actor=who.label)
    return changes
