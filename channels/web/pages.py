"""Pages opened in a browser: the ticket tracking page behind every tracking link,
and the acknowledgement page behind the link in an escalation ping.

A tracking link carries a random, unguessable token (never the ticket number), and
the page shows only what the client may see: public messages, never internal notes,
and the files of those messages (images shown, everything else downloaded, never
run as a page of ours).

An acknowledgement link carries a signed token naming the escalation and the agent
it was sent to, valid for ``ACK_LINK_HOURS``. Opening it changes nothing (mail
scanners and previews open links); the page's button posts the acknowledgement.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core import blobs
from core.context import Context
from core.errors import ActionRefused
from core.escalation import acknowledging
from core.models import Agent, Escalation, EscalationStatus, Ticket, TicketStatus, as_id
from core.principals import agent_principal
from core.rendering import humanize_minutes
from core.tickets import lists
from core.tokens import ACK_LINK_HOURS, LINK_CODE_MINUTES, parse_ack_token

router = APIRouter(include_in_schema=False)

STATUS_TEXT = {
    TicketStatus.NEW: "Received",
    TicketStatus.ACKNOWLEDGED: "Received, being looked at",
    TicketStatus.ASSIGNED: "Assigned to an engineer",
    TicketStatus.IN_PROGRESS: "Being worked on",
    TicketStatus.ON_HOLD: "On hold",
    TicketStatus.RESOLVED: "Resolved",
    TicketStatus.CLOSED: "Closed",
}
HOLD_TEXT = {
    "waiting_on_client": "On hold: waiting for your answer",
    "pending_parts": "On hold: waiting for parts",
}


HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@router.get("/t/{token}", response_class=HTMLResponse)
def tracking_page(request: Request, token: str) -> HTMLResponse:
    note = NOTICES.get(request.query_params.get("note", ""), "")
    return tracking_response(request.app.state.ctx, token, notice=note)


NOTICES = {  # what became of a request made from the page (``?note=``)
    "code_sent": "We sent a one-time code to the address you gave. Answer it from there "
    f"(send the code back, or open the link that came with it) within {humanize_minutes(LINK_CODE_MINUTES)}.",
    "code_capped": "We could not send a code to that address now: it has had as many "
    "automatic messages from us as we send in an hour. Try again later.",
}


def tracking_response(
    ctx: Context, token: str, *, notice: str = "", status_code: int = 200
) -> HTMLResponse:
    """The tracking page of the ticket ``token`` names (404 for none), with an optional
    notice at the top (what became of a request made from the page)."""
    env = ctx.renderer.env
    with ctx.db.reading() as session:
        ticket = lists.ticket_by_tracking_token(session, token)
        if ticket is None:
            return HTMLResponse(
                env.get_template("pages/not_found.html.j2").render(),
                status_code=404,
                headers=HEADERS,
            )
        thread = lists.public_thread(session, ticket.id)
        messages = [p.message for p in thread]
        files = {
            p.message.id: [(a.filename, ctx.file_link(token, a.id, a.filename)) for a in p.files]
            for p in thread
            if p.files
        }
        status_text = HOLD_TEXT.get(
            ticket.hold_reason or "", STATUS_TEXT.get(ticket.status, ticket.status)
        )
        promise = ""
        if (
            ticket.first_response_at is None
            and ticket.response_due_at
            and ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        ):
            promise = (
                f"We aim to answer by {ticket.response_due_at.strftime('%Y-%m-%d %H:%M UTC')}."
            )
        html = env.get_template("pages/tracking.html.j2").render(
            ticket=ticket,
            messages=messages,
            files=files,
            status_text=status_text,
            promise=promise,
            notice=notice,
            channels=sorted(ctx.client_channels),
            link_action=urlsplit(ctx.tracking_link(token)).path + "/link",
        )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


# Shown in the browser; everything else is a download (a file a client sent must
# never run as a page of ours: no HTML, SVG or PDF inline).
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@router.get("/t/{token}/files/{attachment_id}/{name}")
def download(request: Request, token: str, attachment_id: int, name: str) -> Response:
    """A file of the ticket's public conversation, for whoever holds its tracking link."""
    ctx = request.app.state.ctx
    with ctx.db.reading() as session:
        found = (
            lists.public_file(session, token, attachment_id)
            if as_id(attachment_id) is not None
            else None
        )
        data = blobs.get(session, found.sha256) if found is not None else None
        if found is None or data is None:
            html = ctx.renderer.env.get_template("pages/not_found.html.j2").render()
            return HTMLResponse(html, status_code=404, headers=HEADERS)
        kind = found.content_type.lower() if found.content_type else "application/octet-stream"
        inline = kind in INLINE_TYPES and not found.flagged
        disposition = "inline" if inline else "attachment"
        headers = {
            **HEADERS,
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.filename or 'file', safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        return Response(
            data, media_type=kind if inline else "application/octet-stream", headers=headers
        )


@router.get("/e/ack/{token}", response_class=HTMLResponse)
def acknowledgement_page(request: Request, token: str) -> HTMLResponse:
    """What the escalation is about and where it stands, with the Acknowledge button."""
    ctx = request.app.state.ctx
    with ctx.db.reading() as session:
        found = _ack_target(ctx, session, token)
        if found is None:
            return _invalid_link(ctx)
        return _ack_page(ctx, *found)


@router.post("/e/ack/{token}")
def acknowledge(request: Request, token: str) -> Response:
    """Acknowledge as the agent the link was sent to; then show the page again."""
    ctx = request.app.state.ctx
    with ctx.db.transaction() as session:
        found = _ack_target(ctx, session, token)
        if found is None:
            return _invalid_link(ctx)
        esc, ticket, agent = found
        if esc.status == EscalationStatus.ACTIVE:  # this chain, not a later one of the same ticket
            who = agent_principal(agent)
            try:
                acknowledging.acknowledge(ctx, session, ticket, by=who.label, who=who)
            except ActionRefused:  # acknowledged a moment ago by someone else
                pass
    return RedirectResponse(request.url.path, status_code=303)


def _ack_target(
    ctx: Context, session: Session, token: str
) -> tuple[Escalation, Ticket, Agent] | None:
    ids = parse_ack_token(ctx.secret, token)
    if ids is None:
        return None
    esc = session.get(Escalation, ids[0])
    agent = session.get(Agent, ids[1])
    if esc is None or agent is None or not agent.active:
        return None
    ticket = session.get(Ticket, esc.ticket_id)
    return (esc, ticket, agent) if ticket is not None else None


def _ack_page(ctx: Context, esc: Escalation, ticket: Ticket, agent: Agent) -> HTMLResponse:
    by = esc.acknowledged_by or ""
    html = ctx.renderer.env.get_template("pages/escalation_ack.html.j2").render(
        escalation=esc,
        ticket=ticket,
        agent=agent,
        acknowledged_by=by.split(":", 2)[-1] if by.startswith("agent:") else by,
    )
    return HTMLResponse(html, headers=HEADERS)


def _invalid_link(ctx: Context) -> HTMLResponse:
    html = ctx.renderer.env.get_template("pages/link_invalid.html.j2").render(hours=ACK_LINK_HOURS)
    return HTMLResponse(html, status_code=404, headers=HEADERS)
