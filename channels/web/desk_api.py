"""The JSON API for what is not one ticket, under /api: the SLA and KPI reports, the
desk rules' follow-ups, and parked items (messages kept for a human, deliveries
that ran out of attempts).

- ``GET /api/reports/sla``, ``GET /api/reports/kpis`` (leads and admins)
  ``?since=&until=`` (ISO dates or times) or ``?days=`` (the last N days, 30)
- ``GET /api/follow-ups?status=open|done|all&mine=``, ``POST /api/follow-ups/{id}/done``
- ``GET /api/parked``, ``POST /api/parked/{id}/retry``
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from channels.web.api import CtxDep, WhoDep
from channels.web.schemas import DoneBody
from core import parked
from core.desk import followups
from core.kpis import report as kpireport
from core.models import MAX_ID
from core.sla import report as slareport

router = APIRouter()


def report_period(
    ctx: CtxDep,
    since: str | None = None,
    until: str | None = None,
    days: Annotated[int, Query(ge=1, le=3660)] = 30,
) -> tuple[datetime, datetime]:
    """[since, until) of a report: ISO dates or times, else the last ``days`` days."""
    return slareport.period(ctx.now(), since, until, days)


PeriodDep = Annotated[tuple[datetime, datetime], Depends(report_period)]


@router.get("/reports/sla")
def sla_report(ctx: CtxDep, who: WhoDep, period: PeriodDep) -> dict[str, Any]:
    """SLA compliance per priority, queue and category for tickets opened in the period."""
    with ctx.db.reading() as session:
        return slareport.compliance(ctx, session, *period)


@router.get("/reports/kpis")
def kpi_report(ctx: CtxDep, who: WhoDep, period: PeriodDep) -> dict[str, Any]:
    """KPIs for leads (the dashboard's figures) for tickets opened in the period;
    lead or admin role only."""
    if not who.roles & {"lead", "admin"}:
        raise HTTPException(403, "the KPI report is for leads and admins")
    with ctx.db.reading() as session:
        return kpireport.kpis(session, *period, ctx.now())


@router.get("/follow-ups")
def list_follow_ups(
    ctx: CtxDep,
    who: WhoDep,
    status: Literal["open", "done", "all"] = "open",
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """Follow-ups the desk rules opened (open ones by default), newest first; ``mine``:
    only those for the caller."""
    with ctx.db.reading() as session:
        return {
            "follow_ups": followups.listing(
                session,
                status=None if status == "all" else status,
                agent_id=who.agent_id if mine else None,
                limit=limit,
            )
        }


@router.post("/follow-ups/{follow_up_id}/done")
def follow_up_done(
    ctx: CtxDep,
    who: WhoDep,
    follow_up_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: DoneBody | None = None,
) -> dict[str, Any]:
    """Mark a follow-up done, with an optional note of what was done."""
    with ctx.db.transaction() as session:
        followups.done(ctx, session, who, follow_up_id, body.note if body else "")
        return followups.listing(session, status=None, follow_up_id=follow_up_id)[0]


@router.get("/parked")
def list_parked(ctx: CtxDep, who: WhoDep) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return {"parked": parked.listing(session)}


@router.post("/parked/{item_id}/retry")
def retry_parked(ctx: CtxDep, who: WhoDep, item_id: str) -> dict[str, Any]:
    return parked.retry(ctx, item_id)
