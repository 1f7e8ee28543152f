"""The portal form (``/portal``): a client raises a ticket without writing an email.

The page explains each priority in plain words with the first answer it is
promised (from the SLA policy). Sending it is protected against forgery: the page
sets a random cookie and the form carries an HMAC of it (``csrf``); a form sent
from another site has neither. Each page carries a fresh idempotency key, so a
double submit opens one ticket (``core.portal``). The answer is a redirect to a
confirmation page (``/portal/received/TOKEN``, signed, for a day) with the ticket
number, the response to expect and the tracking link, which the acknowledgement
also brings by email.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from channels.web import forms
from channels.web.pages import PAGE_HEADERS, invalid_link
from core import portal
from core.context import Context
from core.errors import ActionRefused
from core.models import PRIORITIES, Ticket
from core.tickets import client, notices
from core.tokens import check_form_token, form_token, parse_receipt_token, receipt_token

router = APIRouter(include_in_schema=False)
COOKIE = "sb_portal"
FIELDS = ("name", "email", "subject", "description", "priority", "category", "asset")


@router.get("/portal", response_class=HTMLResponse)
def portal_page(request: Request) -> HTMLResponse:
    ctx: Context = request.app.state.ctx
    return _form(ctx, request.cookies.get(COOKIE, ""), {}, {}, status=200)


@router.post("/portal")
async def portal_send(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    cookie = request.cookies.get(COOKIE, "")
    try:
        sent = await forms.read(request, ctx.max_attachment_bytes + 65536)
    except forms.TooLarge:
        problem = {"attachments": "The files are too large together. Please send smaller ones."}
        return await run_in_threadpool(_form, ctx, cookie, {}, problem, 413)
    ip = request.client.host if request.client else ""
    return await run_in_threadpool(_send, ctx, cookie, sent, ip)


def _send(ctx: Context, cookie: str, sent: forms.Sent, ip: str) -> Response:
    values = {name: sent.get(name) for name in FIELDS}
    if not cookie or not check_form_token(ctx.secret, "portal", cookie, sent.get("csrf")):
        problem = {"form": "This form has expired. Please check it and send it again."}
        return _form(ctx, cookie, values, problem, 403)
    form = portal.Form(
        **values,
        attachments=tuple(sent.files),
        form_key=sent.get("form_key"),
        ip=ip,
    )
    with ctx.db.reading() as session:
        problems = portal.check(ctx, session, form)
        done = portal.earlier(session, form.form_key) if form.form_key else None
    if done is None and problems:
        return _form(ctx, cookie, values, problems, 422)
    try:
        ticket_id = done.id if done is not None else _open(ctx, form)
    except ActionRefused as exc:
        status = 429 if exc.rule == "portal.limit" else 422
        return _form(ctx, cookie, values, {"form": exc.message}, status)
    token = receipt_token(ctx.secret, ticket_id)
    return RedirectResponse(f"/portal/received/{token}", status_code=303)


def _open(ctx: Context, form: portal.Form) -> int:
    try:
        with ctx.db.transaction() as session:
            return portal.submit(ctx, session, form).id
    except IntegrityError:  # the same form, sent twice at once: the other one opened it
        with ctx.db.reading() as session:
            found = portal.earlier(session, form.form_key)
        if found is None:
            raise
        return found.id


def _form(
    ctx: Context, cookie: str, values: dict[str, str], problems: dict[str, str], status: int
) -> HTMLResponse:
    """The form, with what was typed and what was wrong, and a fresh idempotency key
    (a form shown again opened nothing with its last one)."""
    cookie = cookie or secrets.token_urlsafe(18)
    with ctx.db.reading() as session:
        categories = portal.categories(session)
    priorities = [
        (p, *client.PRIORITY_WORDS.get(p, (p, "")), notices.response_words(ctx, p))
        for p in PRIORITIES
    ]
    html = ctx.renderer.env.get_template("pages/portal.html.j2").render(
        values={"priority": "P3", **{k: v for k, v in values.items() if v}},
        problems=problems,
        priorities=priorities,
        categories=categories,
        csrf=form_token(ctx.secret, "portal", cookie),
        form_key=secrets.token_urlsafe(18),
    )
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/portal")
    return response


@router.get("/portal/received/{token}", response_class=HTMLResponse)
def received(request: Request, token: str) -> HTMLResponse:
    """The confirmation: number, the response to expect, the tracking link."""
    ctx: Context = request.app.state.ctx
    ticket_id = parse_receipt_token(ctx.secret, token)
    with ctx.db.reading() as session:
        ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
        if ticket is None:
            return invalid_link(ctx)
        fields: dict[str, Any] = notices.template_fields(ctx, ticket)
        address = ticket.reply_identity.address if ticket.reply_identity else ""
    html = ctx.renderer.env.get_template("pages/portal_received.html.j2").render(
        address=address, **fields
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)
