"""The page behind a satisfaction question's links: "Is it fixed?" and a 1-5 rating.

``/s/TOKEN`` (a signed token naming one resolution) shows the question; the links in
the email preselect an answer (``?fixed=yes``, ``?rating=4``) but opening a link
saves nothing (mail scanners and previews open links): the page's form posts it.
A plain HTML form: it works without JavaScript. A forged token gets a page that
says nothing of any ticket.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from channels.web.pages import HEADERS
from core.context import Context
from core.errors import ActionRefused
from core.models import TicketStatus
from core.satisfaction import answering
from core.satisfaction.config import config

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 16384


@router.get("/s/{token}", response_class=HTMLResponse)
def question_page(request: Request, token: str) -> HTMLResponse:
    q = request.query_params
    return _page(
        request.app.state.ctx,
        token,
        fixed=q.get("fixed", ""),
        rating=q.get("rating", ""),
        saved=q.get("saved") == "1",
    )


@router.post("/s/{token}")
async def submit(request: Request, token: str) -> Response:
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    fields = {k: (v or [""])[0] for k, v in form.items()}
    return await run_in_threadpool(_submit, request.app.state.ctx, token, fields)


def _submit(ctx: Context, token: str, form: dict[str, str]) -> Response:
    fixed = {"yes": True, "no": False}.get(form.get("fixed", ""))
    rating_text = form.get("rating", "")
    try:
        if rating_text and not (rating_text.isdigit() and len(rating_text) == 1):
            raise ActionRefused("satisfaction.answer", "a rating is 1 to 5", kind="field")
        with ctx.db.transaction() as session:
            answering.answer(
                ctx,
                session,
                token,
                fixed=fixed,
                rating=int(rating_text) if rating_text else None,
                comment=form.get("comment", ""),
                channel="web",
            )
    except ActionRefused as exc:
        if exc.rule == "satisfaction.unknown":
            return _invalid(ctx)
        return _page(
            ctx,
            token,
            fixed=form.get("fixed", ""),
            rating=rating_text,
            comment=form.get("comment", ""),
            error=exc.message,
            status_code=422,
        )
    return RedirectResponse(f"{urlsplit(ctx.satisfaction_link(token)).path}?saved=1", 303)


def _page(
    ctx: Context,
    token: str,
    *,
    fixed: str = "",
    rating: str = "",
    comment: str | None = None,
    saved: bool = False,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    with ctx.db.reading() as session:
        question = answering.find(ctx, session, token)
        if question is None:
            return _invalid(ctx)
        answer = question.answer
        if answer is not None and not fixed and not rating:  # show what they said
            fixed = {True: "yes", False: "no"}.get(answer.fixed, "")  # type: ignore[arg-type]
            rating = str(answer.rating or "")
        html = ctx.renderer.env.get_template("site/satisfaction.html.j2").render(
            ticket=question.ticket,
            answer=answer,
            open=question.open,
            days=config(ctx.policy).answer_days,
            fixed=fixed if fixed in ("yes", "no") else "",
            rating=int(rating) if rating in ("1", "2", "3", "4", "5") else None,
            comment=comment if comment is not None else (answer.comment if answer else ""),
            saved=saved,
            reopened=saved
            and answer is not None
            and answer.fixed is False
            and question.ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED),
            error=error,
            action=urlsplit(ctx.satisfaction_link(token)).path,
        )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _invalid(ctx: Context) -> HTMLResponse:
    html = ctx.renderer.env.get_template("site/invalid.html.j2").render()
    return HTMLResponse(html, status_code=404, headers=HEADERS)
