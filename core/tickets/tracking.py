"""A ticket's tracking link: finding the ticket a link names, and revoking a link.

A tracking link carries a signed, dated token (``core.tokens.tracking_link_token``)
made from the ticket's nonce. Revoking replaces the nonce: every link sent before
names nothing from then on, and the client is sent the new one on their channel.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.errors import ActionRefused
from core.models import OutboxDelivery, Ticket
from core.principals import Principal
from core.tickets import client, lists, notices
from core.tickets.lifecycle import STAFF
from core.tokens import tracking_token


def ticket_for(ctx: Context, session: Session, token: str, *, lock: bool = False) -> Ticket | None:
    """The ticket a tracking token names, or None when the token is forged, malformed,
    expired or revoked (the caller shows the same page for all four)."""
    nonce = ctx.tracking_nonce(token)
    if nonce is None:
        return None
    return lists.ticket_by_tracking_token(session, nonce, lock=lock)


def revoke(
    ctx: Context, session: Session, who: Principal, ticket: Ticket, *, reason: str = ""
) -> OutboxDelivery | None:
    """Replace the ticket's tracking link (staff only): the old one stops working at
    once, the change is audited, and the client is sent the new link. Staff, or the
    operator on the command line. Returns the delivery queued (None when the client
    cannot be reached)."""
    if not who.roles & (STAFF | {"system"}):
        raise ActionRefused(
            "tracking.role", "only agents and leads can revoke a tracking link", kind="role"
        )
    ticket.tracking_token = tracking_token()
    ticket.updated_at = ctx.now()
    audit.record(
        session,
        actor=who.label,
        action="tracking_link_revoked",
        ticket_id=ticket.id,
        data={"reason": reason.strip()} if reason.strip() else {},
        now=ctx.now(),
    )
    session.flush()
    return notices.tell(
        ctx,
        session,
        ticket,
        notices.Notice(
            "tracking_link",
            automatic=False,
            serial=client.notice_serial(session, ticket, "tracking_link"),
            unsent="tracking_link_unsent",
        ),
        actor=who.label,
    )
