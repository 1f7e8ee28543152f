"""Pages clients open in a browser: the ticket tracking page behind every tracking link.

A tracking link carries a random, unguessable token (never the ticket number), and
the page shows only what the client may see: public messages, never internal notes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from core.models import Message, Ticket

router = APIRouter(include_in_schema=False)

STATUS_TEXT = {
    "new": "Received",
    "acknowledged": "Received, being looked at",
    "assigned": "Assigned to an engineer",
    "in_progress": "Being worked on",
    "on_hold": "On hold",
    "resolved": "Resolved",
    "closed": "Closed",
}
HOLD_TEXT = {
    "waiting_on_client": "On hold: waiting for your answer",
    "pending_parts": "On hold: waiting for parts",
}


@router.get("/t/{token}", response_class=HTMLResponse)
def tracking_page(request: Request, token: str) -> HTMLResponse:
    ctx = request.app.state.ctx
    env = ctx.renderer.env
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    with ctx.db.reading() as session:
        ticket = session.execute(
            select(Ticket).where(Ticket.tracking_token == token)
        ).scalar_one_or_none()
        if ticket is None or len(token) < 16:
            return HTMLResponse(
                env.get_template("pages/not_found.html.j2").render(),
                status_code=404,
                headers=headers,
            )
        messages = (
            session.execute(
                select(Message)
                .where(Message.ticket_id == ticket.id, Message.kind == "public")
                .order_by(Message.id)
            )
            .scalars()
            .all()
        )
        status_text = HOLD_TEXT.get(
            ticket.hold_reason or "", STATUS_TEXT.get(ticket.status, ticket.status)
        )
        promise = ""
        if (
            ticket.first_response_at is None
            and ticket.response_due_at
            and ticket.status not in ("resolved", "closed")
        ):
            promise = (
                f"We aim to answer by {ticket.response_due_at.strftime('%Y-%m-%d %H:%M UTC')}."
            )
        html = env.get_template("pages/tracking.html.j2").render(
            ticket=ticket, messages=messages, status_text=status_text, promise=promise
        )
    return HTMLResponse(html, headers=headers)
