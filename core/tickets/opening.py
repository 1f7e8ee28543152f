"""Opening a ticket: for a client's first message (intake), a person's request
(API, Slack) or a monitoring system, through the one change path."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core import audit, contacts
from core.assets import links as asset_links
from core.context import Context
from core.errors import ActionRefused
from core.models import PRIORITIES, Category, Participant, SupportQueue, Ticket, TicketStatus
from core.principals import Principal
from core.tickets import thread
from core.tickets.change import apply
from core.tickets.lookup import reference
from core.tickets.notices import Notice
from core.tokens import tracking_token
from core.values import AttachmentIn


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
    """Open a ticket for ``requester`` = (channel kind, address, display name).

    Priority, queue and category come from the routing rules unless staff chose them;
    the client is sent an acknowledgement with the tracking link unless ``send_ack``
    is False.
    """
    subject = (
        " ".join((subject or "").split())[:500]
        or (text.strip().splitlines() or ["(no subject)"])[0][:120]
    )
    kind, address, name = requester
    _check_request(ctx, who, kind, address, priority, queue, category)
    identity = contacts.find_or_create(session, kind, address, name)
    routing = ctx.policy.route(subject, text)
    queue_id, queue_slug = reference(ctx, session, SupportQueue, queue or routing.queue, "queue")
    category_id, category_slug = reference(
        ctx, session, Category, category or routing.category, "category"
    )
    chosen_priority = priority or routing.priority
    reason = f"set by {who.label}" if priority else routing.reasons.get("priority", "default")
    links = links or {}

    def create() -> Ticket:
        now = ctx.now()
        ticket = Ticket(
            subject=subject,
            status=TicketStatus.NEW,
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
            created_at=now,
            updated_at=now,
        )
        asset_links.apply(session, ticket, links)  # the records named, found or created
        session.add(ticket)
        session.flush()
        audit.start_chain(session, ticket.id)
        session.add(
            Participant(ticket_id=ticket.id, contact_id=identity.contact_id, role="requester")
        )
        return ticket

    data: dict[str, object] = {
        "priority": chosen_priority,
        "priority_reason": reason,
        "queue": queue_slug,
        "category": category_slug,
        "channel": kind,
        "requester": identity.id,
    }
    if linked_from_id:
        data["linked_from"] = linked_from_id
    if links:
        data["links"] = links
    # The thread so far is the client's first message: nothing to look up.
    ack = Notice("ack", references=(external_id,) if external_id else ())
    change = apply(
        ctx,
        session,
        who,
        None,
        "open",
        fields={"subject": subject},
        data=data,
        create=create,
        entry=thread.from_client(identity, text, html, attachments, external_id, inbound_record_id),
        notice=ack if send_ack else None,
    )
    return change.ticket


def _check_request(
    ctx: Context,
    who: Principal,
    kind: str,
    address: str,
    priority: str | None,
    queue: str | None,
    category: str | None,
) -> None:
    """Refuse what no ticket may be opened with (before anything is written)."""
    if who.kind == "client" and (priority or queue or category):
        raise ActionRefused(
            "open.client_fields", "clients cannot choose priority, queue or category", kind="role"
        )
    if priority is not None and priority not in PRIORITIES:
        raise ActionRefused(
            "priority.value",
            f"priority must be one of {', '.join(PRIORITIES)}",
            kind="field",
        )
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
