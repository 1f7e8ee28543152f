"""Pages where a client links an address on another channel to their tickets.

``POST /t/TOKEN/link`` (the form on a tracking page, which only the ticket's client
was sent) asks for a one-time code to be sent to another address of theirs
(``core.contacts.codes.request``). ``/c/link/TOKEN`` is the signed link that goes
with the code: opening it changes nothing (mail scanners and previews open links);
its button confirms, proving the opener holds that address too. A forged, expired
or used link links nothing.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from channels.web.pages import HEADERS, tracking_response
from core.contacts import codes, reply_to
from core.context import Context
from core.errors import ActionRefused
from core.models import Identity, LinkCode
from core.tickets import tracking
from core.tokens import LINK_CODE_MINUTES

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 4096


@router.post("/t/{token}/link")
async def ask_for_code(request: Request, token: str) -> Response:
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    channel = (form.get("channel") or [""])[0]
    address = (form.get("address") or [""])[0]
    return await run_in_threadpool(_ask, request.app.state.ctx, token, channel, address)


def _ask(ctx: Context, token: str, channel: str, address: str) -> Response:
    try:
        with ctx.db.transaction() as session:
            ticket = tracking.ticket_for(ctx, session, token)
            identity = reply_to(ctx, session, ticket) if ticket is not None else None
            if ticket is None or identity is None:
                note = ""
            else:
                row = codes.request(ctx, session, identity, channel, address, ticket=ticket)
                note = "code_capped" if row.outcome == "capped" else "code_sent"
    except ActionRefused as exc:
        return tracking_response(ctx, token, notice=exc.message, status_code=422)
    if not note:
        return tracking_response(ctx, token)  # the page's own 404
    return RedirectResponse(f"{ctx.tracking_path(token)}?note={note}", status_code=303)


@router.get("/c/link/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    """What answering the code would link, with the button that does it."""
    return _link(request.app.state.ctx, token, confirm=False)


@router.post("/c/link/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> HTMLResponse:
    """The holder of the address pressed the button: link it."""
    return _link(request.app.state.ctx, token, confirm=True)


def _link(ctx: Context, token: str, *, confirm: bool) -> HTMLResponse:
    """The link page for the code behind ``token``, linking first when ``confirm``."""
    with ctx.db.transaction() if confirm else ctx.db.reading() as session:
        row = codes.from_link(ctx, session, token)
        if row is None:
            return _invalid(ctx)
        addresses = _addresses(session, row)
        if confirm:
            codes.confirm(ctx, session, row, evidence="client_link")
    return _link_page(ctx, addresses, done=confirm)


def _addresses(session: Session, row: LinkCode) -> tuple[str, str]:
    """The address the code was asked from, and the one it links."""
    asked = session.get(Identity, row.identity_id)
    return (f"{asked.kind} {asked.address}" if asked else "", f"{row.kind} {row.address}")


def _link_page(ctx: Context, addresses: tuple[str, str], *, done: bool) -> HTMLResponse:
    first, second = addresses
    html = ctx.renderer.env.get_template("pages/contact_link.html.j2").render(
        done=done, first=first, second=second
    )
    return HTMLResponse(html, headers=HEADERS)


def _invalid(ctx: Context) -> HTMLResponse:
    html = ctx.renderer.env.get_template("pages/contact_link_invalid.html.j2").render(
        minutes=LINK_CODE_MINUTES
    )
    return HTMLResponse(html, status_code=404, headers=HEADERS)
