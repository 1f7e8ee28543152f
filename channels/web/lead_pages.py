"""The KPI dashboard for leads: figures, charts (server-rendered SVG) and a CSV export.

Sign-in: the form at ``/leads/login`` takes the agent's API token; or a login link
(``switchboard agents login-link EMAIL``, valid ``LOGIN_LINK_MINUTES``). Either sets
a signed, HttpOnly cookie for ``SIGN_IN_HOURS``. Only agents with the lead or admin
role see the figures; any other agent gets a 403 page.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from channels.web.charts import bars
from channels.web.pages import HEADERS
from core import agents
from core.context import Context
from core.errors import ActionRefused
from core.kpis import report
from core.models import Agent
from core.sla.report import period
from core.tokens import (
    LOGIN_LINK_MINUTES,
    SIGN_IN_HOURS,
    parse_staff_token,
    staff_token,
)

router = APIRouter(include_in_schema=False)
COOKIE = "switchboard_lead"
LEADS = frozenset({"lead", "admin"})
DASHBOARD = "/leads/kpis"


def _agent(ctx: Context, request: Request) -> Agent | None:
    token = request.cookies.get(COOKIE, "")
    agent_id = (
        parse_staff_token(ctx.secret, "session", token, SIGN_IN_HOURS * 3600) if token else None
    )
    if agent_id is None:
        return None
    with ctx.db.reading() as session:
        agent = session.get(Agent, agent_id)
        return agent if agent is not None and agent.active else None


def _signed_in(ctx: Context, agent: Agent, to: str = DASHBOARD) -> Response:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        COOKIE,
        staff_token(ctx.secret, "session", agent.id),
        max_age=SIGN_IN_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=ctx.public_url.startswith("https:"),
        path="/leads",
    )
    return response


def _render(ctx: Context, template: str, status_code: int = 200, **fields: Any) -> HTMLResponse:
    html = ctx.renderer.env.get_template(template).render(**fields)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


@router.get("/leads/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _render(request.app.state.ctx, "site/login.html.j2", error="")


@router.post("/leads/login")
async def login(request: Request) -> Response:
    body = await request.body()
    token = (parse_qs(body[:4096].decode("utf-8", "replace")).get("token") or [""])[0].strip()
    return await run_in_threadpool(_login, request.app.state.ctx, token)


def _login(ctx: Context, token: str) -> Response:
    with ctx.db.reading() as session:
        agent = agents.authenticate(session, token) if token else None
    if agent is None:
        return _render(
            ctx,
            "site/login.html.j2",
            status_code=401,
            error="That token is unknown or revoked. Paste the token `switchboard agents add` printed.",
        )
    return _signed_in(ctx, agent)


@router.get("/leads/login/{token}")
def login_link(request: Request, token: str) -> Response:
    ctx = request.app.state.ctx
    agent_id = parse_staff_token(ctx.secret, "login", token, LOGIN_LINK_MINUTES * 60)
    with ctx.db.reading() as session:
        agent = session.get(Agent, agent_id) if agent_id is not None else None
        if agent is None or not agent.active:
            return _render(
                ctx,
                "site/login.html.j2",
                status_code=401,
                error=f"That login link is not valid (they work for {LOGIN_LINK_MINUTES} minutes). Sign in with your token, or ask for a new link.",
            )
    return _signed_in(ctx, agent)


@router.post("/leads/logout")
def logout() -> Response:
    response = RedirectResponse("/leads/login", status_code=303)
    response.delete_cookie(COOKIE, path="/leads")
    return response


def _lead_or_refusal(ctx: Context, request: Request) -> Agent | Response:
    agent = _agent(ctx, request)
    if agent is None:
        return RedirectResponse("/leads/login", status_code=303)
    if not set(agent.roles) & LEADS:
        return _render(ctx, "site/forbidden.html.j2", status_code=403, name=agent.name)
    return agent


def _figures(ctx: Context, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    q = request.query_params
    chosen = {k: q.get(k, "") for k in ("since", "until", "days")}
    days = chosen["days"]
    if days and not (days.isdigit() and 1 <= int(days) <= 3660):
        raise ActionRefused("report.period", "days is a whole number from 1 to 3660", kind="field")
    start, end = period(
        ctx.now(), chosen["since"] or None, chosen["until"] or None, int(days or 30)
    )
    with ctx.db.reading() as session:
        return report.kpis(session, start, end, ctx.now()), chosen


CHARTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("First response, average minutes", "first_response", ("average_minutes",), ""),
    ("Resolution, average minutes", "resolution", ("average_minutes",), ""),
    ("Response SLA met", "sla", ("response", "met_share"), "%"),
    ("Resolution SLA met", "sla", ("resolution", "met_share"), "%"),
    ("Reopen rate", "reopen", ("rate",), "%"),
    ("Escalation frequency", "escalation", ("rate",), "%"),
    ("Satisfaction, average rating (1-5)", "satisfaction", ("average_rating",), ""),
)


def _pick(bucket: dict[str, Any], section: str, path: tuple[str, ...]) -> float | None:
    value: Any = bucket[section]
    for key in path:
        value = value[key]
    return None if value is None else float(value)


@router.get("/leads/kpis", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    ctx = request.app.state.ctx
    found = _lead_or_refusal(ctx, request)
    if not isinstance(found, Agent):
        return found
    by = request.query_params.get("by", "priority")
    by = by if by in report.DIMENSIONS else "priority"
    try:
        data, chosen = _figures(ctx, request)
    except ActionRefused as exc:
        data, chosen = None, {"since": "", "until": "", "days": ""}
        error = exc.message
    else:
        error = ""
    charts = []
    if data is not None:
        groups = data[f"by_{by}"]
        for title, section, path, unit in CHARTS:
            items = [(k, _pick(b, section, path)) for k, b in groups.items()]
            charts.append((f"{title} by {by}", bars(f"{title} by {by}", items, unit)))
    query = urlencode({k: v for k, v in chosen.items() if v})
    return _render(
        ctx,
        "site/kpis.html.j2",
        status_code=422 if error else 200,
        lead=found,
        data=data,
        by=by,
        dimensions=report.DIMENSIONS,
        chosen=chosen,
        charts=charts,
        rows=report.table(data)[1:] if data else [],
        total=report.table(data)[0] if data else None,
        header=report.HEADER,
        csv_link=f"{DASHBOARD}.csv" + (f"?{query}" if query else ""),
        error=error,
    )


@router.get("/leads/kpis.csv")
def export(request: Request) -> Response:
    ctx = request.app.state.ctx
    found = _lead_or_refusal(ctx, request)
    if not isinstance(found, Agent):
        return found
    try:
        data, _ = _figures(ctx, request)
    except ActionRefused as exc:
        return Response(exc.message + "\n", status_code=422, media_type="text/plain")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.HEADER)
    writer.writerows(report.table(data))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={**HEADERS, "Content-Disposition": 'attachment; filename="kpis.csv"'},
    )
