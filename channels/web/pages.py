"""Pages opened in a browser: the ticket tracking page behind every tracking link,
and the acknowledgement page behind the link in an escalation ping.

A tracking link carries a signed, dated token (``core.tokens.tracking_link_token``),
never the ticket number; a forged, expired or revoked one gets the same friendly
page, with nothing of any ticket. The page shows the client their request in
plain words (``core.tickets.client``): its state, the promise as it stands now,
the public history and conversation with its files (images shown, everything else
downloaded, never run as a page of ours), and a box to write to us, which adds the
message exactly as if it came by the client's own channel. Times are in UTC, in a
zone chosen on the page (``?tz=``), or in the browser's own zone (a small script,
``pages/zone.js.j2``; the page works without it).

An acknowledgement link carries a signed token naming the escalation and the agent
it was sent to, valid for ``ACK_LINK_HOURS``. Opening it changes nothing (mail
scanners and previews open links); the page's button posts the acknowledgement.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from channels.web import forms
from core import blobs
from core.contacts import reply_to
from core.context import Context
from core.errors import ActionRefused
from core.escalation import acknowledging
from core.models import (
    Agent,
    Escalation,
    EscalationStatus,
    Identity,
    Message,
    Ticket,
    as_id,
)
from core.principals import agent_principal
from core.rendering import humanize_minutes
from core.tickets import client, conversation, lists, tracking
from core.tokens import (
    ACK_LINK_HOURS,
    LINK_CODE_MINUTES,
    check_form_token,
    form_token,
    parse_ack_token,
)

router = APIRouter(include_in_schema=False)

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The client's pages run no script but our own file, whatever a message contains.
PAGE_HEADERS = {
    **HEADERS,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """Every time zone a client may choose, by name."""
    return (
        "UTC",
        *sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/")),
    )


def zone_named(name: str) -> str:
    return name if name in _zone_set() else "UTC"


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(zones())


@lru_cache(maxsize=64)
def zone_options(chosen: str) -> Markup:
    """The ``<option>`` list of every zone, ``chosen`` selected (built once per zone)."""
    return Markup("").join(
        Markup("<option selected>%s</option>") % z
        if z == chosen
        else Markup("<option>%s</option>") % z
        for z in zones()
    )


def time_tag(zone: str) -> Callable[[datetime], Markup]:
    """A ``<time>`` element for a UTC datetime, its text in ``zone`` ("30 Nov 2026, 15:33");
    the browser's script rewrites the text from the ``datetime`` attribute."""
    tz = ZoneInfo(zone)

    def tag(when: datetime) -> Markup:
        # Both texts are digits, letters, '-', ':', '+' and ',': nothing to escape.
        return Markup(
            f'<time datetime="{when.isoformat()}">{when.astimezone(tz):%d %b %Y, %H:%M}</time>'
        )

    return tag


@router.get("/t/{token}", response_class=HTMLResponse)
def tracking_page(request: Request, token: str) -> HTMLResponse:
    note = NOTICES.get(request.query_params.get("note", ""), "")
    return tracking_response(
        request.app.state.ctx, token, notice=note, zone=request.query_params.get("tz", "")
    )


NOTICES = {  # what became of a request made from the page (``?note=``)
    "code_sent": "We sent a one-time code to the address you gave. Answer it from there "
    f"(send the code back, or open the link that came with it) within {humanize_minutes(LINK_CODE_MINUTES)}.",
    "code_capped": "We could not send a code to that address now: it has had as many "
    "automatic messages from us as we send in an hour. Try again later.",
    "sent": "Thank you: your message is added below, and we have it.",
}


def invalid_link(ctx: Context) -> HTMLResponse:
    """The one page for a tracking link or portal receipt that names nothing (forged,
    expired, revoked)."""
    html = ctx.renderer.env.get_template("pages/not_found.html.j2").render(
        days=ctx.tracking_link_days
    )
    return HTMLResponse(html, status_code=404, headers=PAGE_HEADERS)


def tracking_response(
    ctx: Context,
    token: str,
    *,
    notice: str = "",
    status_code: int = 200,
    zone: str = "",
    problem: str = "",
    text: str = "",
) -> HTMLResponse:
    """The tracking page of the ticket ``token`` names (the invalid-link page for
    none), with an optional notice at the top (what became of a request made from
    the page), or a ``problem`` with the reply the client wrote, kept."""
    env = ctx.renderer.env
    zone = zone_named(zone)
    with ctx.db.reading() as session:
        ticket = tracking.ticket_for(ctx, session, token)
        if ticket is None:
            return invalid_link(ctx)
        seen = client.view(ctx, session, ticket)
        identity = reply_to(ctx, session, ticket)
        path = ctx.tracking_path(token)
        html = env.get_template("pages/tracking.html.j2").render(
            v=seen,
            ticket=ticket,
            when=time_tag(zone),
            zone=zone,
            zone_options=zone_options(zone),
            notice=notice,
            problem=problem,
            text=text,
            via=identity.kind if identity is not None else "",
            can_reply=seen.can_reply and _answerable(ctx, identity),
            file_path=lambda file_id, name: ctx.file_path(token, file_id, name),
            reply_action=f"{path}/reply",
            csrf=form_token(ctx.secret, "reply", ticket.tracking_token),
            form_key=secrets.token_urlsafe(18),
            channels=sorted(ctx.client_channels),
            link_action=f"{path}/link",
        )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


MAX_REPLY_TEXT = 20000


@router.post("/t/{token}/reply")
async def post_reply(request: Request, token: str) -> Response:
    """The reply box: the client's message, added as if it came by their channel."""
    ctx: Context = request.app.state.ctx
    try:
        sent = await forms.read(request, ctx.max_attachment_bytes + 65536)
    except forms.TooLarge:
        return await run_in_threadpool(
            tracking_response,
            ctx,
            token,
            status_code=413,
            problem=f"That is too large: files up to {ctx.max_attachment_bytes // 1048576} MB in all.",
        )
    return await run_in_threadpool(_reply, ctx, token, sent)


def _reply(ctx: Context, token: str, sent: forms.Sent) -> Response:
    zone = zone_named(sent.get("tz"))
    text = sent.fields.get("text", "").strip()
    key = sent.get("form_key")[:64]
    problem = ""
    if not text and not sent.files:
        problem = "Please write your message before sending it."
    elif len(text) > MAX_REPLY_TEXT:
        problem = f"Please keep your message under {MAX_REPLY_TEXT} characters."
    elif not key:
        problem = "This form has expired. Please send your message again."
    if problem:  # nothing written; the page checks the link itself
        return tracking_response(ctx, token, status_code=422, zone=zone, problem=problem, text=text)
    try:
        with ctx.db.transaction() as session:
            ticket = tracking.ticket_for(ctx, session, token, lock=True)
            if ticket is None or not check_form_token(
                ctx.secret, "reply", ticket.tracking_token, sent.get("csrf")
            ):
                return invalid_link(ctx)
            identity = reply_to(ctx, session, ticket)
            if identity is None or not _answerable(ctx, identity):
                raise ActionRefused("tracking.reply", "no client to write as", kind="state")
            if not _already_added(session, ticket.id, f"web:{key}"):
                conversation.client_message(
                    ctx,
                    session,
                    ticket,
                    identity,
                    text=text,
                    attachments=sent.files[: ctx.max_attachments],
                    external_id=f"web:{key}",
                )
    except ActionRefused:  # closed, merged, or nobody to answer: nothing was written
        problem = "This request takes no more messages here. Please open a new request."
        return tracking_response(ctx, token, status_code=409, zone=zone, problem=problem, text=text)
    query = urlencode({"note": "sent", **({"tz": zone} if zone != "UTC" else {})})
    return RedirectResponse(f"{ctx.tracking_path(token)}?{query}#thread", status_code=303)


def _answerable(ctx: Context, identity: Identity | None) -> bool:
    """Whether the page may write as this identity: a person's, not a monitoring system's."""
    return identity is not None and identity.kind not in ctx.silent_channels


def _already_added(session: Session, ticket_id: int, external_id: str) -> bool:
    """A second sending of the same reply form (a double click): it is there already."""
    return (
        session.execute(
            select(Message.id).where(
                Message.ticket_id == ticket_id, Message.external_id == external_id
            )
        ).first()
        is not None
    )


@router.get("/static/zone.js")
def zone_script(request: Request) -> Response:
    """The page's one script: times in the browser's own zone."""
    body = request.app.state.ctx.renderer.env.get_template("pages/zone.js.j2").render()
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# Shown in the browser; everything else is a download (a file a client sent must
# never run as a page of ours: no HTML, SVG or PDF inline).
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@router.get("/t/{token}/files/{attachment_id}/{name}")
def download(request: Request, token: str, attachment_id: int, name: str) -> Response:
    """A file of the ticket's public conversation, for whoever holds its tracking link."""
    ctx = request.app.state.ctx
    nonce = ctx.tracking_nonce(token)
    with ctx.db.reading() as session:
        found = (
            lists.public_file(session, nonce, attachment_id)
            if nonce is not None and as_id(attachment_id) is not None
            else None
        )
        data = blobs.get(session, found.sha256) if found is not None else None
        if found is None or data is None:
            return invalid_link(ctx)
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
            return _invalid_ack_link(ctx)
        return _ack_page(ctx, *found)


@router.post("/e/ack/{token}")
def acknowledge(request: Request, token: str) -> Response:
    """Acknowledge as the agent the link was sent to; then show the page again."""
    ctx = request.app.state.ctx
    with ctx.db.transaction() as session:
        found = _ack_target(ctx, session, token)
        if found is None:
            return _invalid_ack_link(ctx)
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


def _invalid_ack_link(ctx: Context) -> HTMLResponse:
    html = ctx.renderer.env.get_template("pages/link_invalid.html.j2").render(hours=ACK_LINK_HOURS)
    return HTMLResponse(html, status_code=404, headers=HEADERS)
