"""The JSON API under /api: list, show, and every core action.

Agents authenticate with ``Authorization: Bearer <token>`` (``switchboard agents
add`` prints one; only its SHA-256 is stored). Refusals are 403 (role) or 409
(state) with the rule's name as the error code; missing fields are 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from channels.web import uploads
from channels.web.schemas import (
    AssignBody,
    CategoryBody,
    CloseBody,
    EscalateBody,
    HoldBody,
    LinkBody,
    MergeBody,
    OpenBody,
    Override,
    PriorityBody,
    QueueBody,
    ReopenBody,
    ResolveBody,
    RevokeBody,
)
from core import agents, logfields
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.escalation import acknowledging
from core.models import Agent
from core.principals import Principal, agent_principal
from core.tickets import (
    context,
    conversation,
    fields,
    lookup,
    merging,
    opening,
    tracking,
    views,
    workflow,
)

router = APIRouter()


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def current_agent(ctx: CtxDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "send 'Authorization: Bearer <token>' with your API token "
            "(switchboard agents add prints one)",
        )
    with ctx.db.reading() as session:
        agent = agents.authenticate(session, token.strip())
        if agent is None:
            raise HTTPException(401, "unknown or revoked API token")
        return agent_principal(agent)


WhoDep = Annotated[Principal, Depends(current_agent)]


def _query_names(dependant: Any) -> set[str]:
    """The query parameters an endpoint and its dependencies declare."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query(request: Request) -> None:
    """Refuse a query parameter the endpoint does not take: it would be ignored silently."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = sorted(_query_names(dependant))
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise ActionRefused(
            "query.unknown",
            f"unknown query parameter '{unknown[0]}': "
            + (f"this endpoint takes {', '.join(known)}" if known else "this endpoint takes none"),
            kind="field",
        )


@router.get("/tickets")
def list_tickets(
    ctx: CtxDep,
    who: WhoDep,
    status: str | None = None,
    priority: str | None = None,
    queue: str | None = None,
    assignee: str | None = None,
    q: str | None = None,
    asset: str | None = None,
    site: str | None = None,
    work_order: str | None = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Tickets, newest first; ``asset``, ``site`` and ``work_order`` by reference."""
    with ctx.db.reading() as session:
        return views.list_tickets(
            ctx,
            session,
            status=status,
            priority=priority,
            queue=queue,
            assignee=assignee,
            query=q,
            asset=asset,
            site=site,
            work_order=work_order,
            include_closed=include_closed,
            limit=limit,
            offset=offset,
        )


@router.post("/tickets", status_code=201)
def open_ticket(ctx: CtxDep, who: WhoDep, body: OpenBody) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        ticket = opening.open_ticket(
            ctx,
            session,
            who,
            subject=body.subject,
            text=body.text,
            requester=(body.requester.channel, body.requester.address, body.requester.name),
            priority=body.priority,
            category=body.category,
            queue=body.queue,
            links={
                k: v
                for k, v in {
                    "asset": body.asset,
                    "site": body.site,
                    "work_order": body.work_order,
                    "location": body.location,
                }.items()
                if v
            },
            send_ack=body.send_ack,
        )
        number = ticket.id
    return _show(ctx, number)


def _show(ctx: Context, number: str | int) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return context.assemble(ctx, session, number)


@router.get("/tickets/{number}")
def show_ticket(ctx: CtxDep, who: WhoDep, number: str) -> dict[str, Any]:
    return _show(ctx, number)


def _act(ctx: Context, number: str, fn: Callable[[Session, Any], object]) -> dict[str, Any]:
    with logfields.about(ticket=number.upper()), ctx.db.transaction() as session:
        ticket = lookup.get_ticket(session, number, lock=True)
        fn(session, ticket)
        ticket_id = ticket.id
    return _show(ctx, ticket_id)


def _apply(
    ctx: Context, who: Principal, number: str, action: Callable[..., object], body: BaseModel
) -> dict[str, Any]:
    """Run ``action`` on the locked ticket with the body's fields as its keyword arguments."""
    kwargs = dict(body)
    return _act(ctx, number, lambda s, t: action(ctx, s, who, t, **kwargs))


def _find_agent(session: Session, who: Principal, ref: str) -> Agent:
    try:
        return agents.find(session, ref, who)
    except NotFound:
        raise ActionRefused("field.assignee", f"no agent '{ref}'", kind="field") from None


@router.post("/tickets/{number}/acknowledge")
def acknowledge(
    ctx: CtxDep, who: WhoDep, number: str, body: Override | None = None
) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.acknowledge, body or Override())


@router.post("/tickets/{number}/assign")
def assign(ctx: CtxDep, who: WhoDep, number: str, body: AssignBody) -> dict[str, Any]:
    return _act(
        ctx,
        number,
        lambda s, t: workflow.assign(
            ctx,
            s,
            who,
            t,
            assignee=_find_agent(s, who, body.agent),
            override_reason=body.override_reason,
        ),
    )


@router.post("/tickets/{number}/start")
def start(ctx: CtxDep, who: WhoDep, number: str, body: Override | None = None) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.start, body or Override())


PostedDep = Annotated[uploads.Posted, Depends(uploads.read)]


@router.post("/tickets/{number}/reply", openapi_extra=uploads.OPENAPI)
def reply(ctx: CtxDep, who: WhoDep, number: str, body: PostedDep) -> dict[str, Any]:
    """A public reply, with files (JSON with base64, or multipart: ``channels.web.uploads``)."""
    return _write(ctx, who, number, body, conversation.reply)


@router.post("/tickets/{number}/note", openapi_extra=uploads.OPENAPI)
def note(ctx: CtxDep, who: WhoDep, number: str, body: PostedDep) -> dict[str, Any]:
    """An internal note, with files for the team only."""
    return _write(ctx, who, number, body, conversation.note)


def _write(
    ctx: Context, who: Principal, number: str, body: uploads.Posted, action: Callable[..., object]
) -> dict[str, Any]:
    return _act(
        ctx,
        number,
        lambda s, t: action(ctx, s, who, t, text=body.text, attachments=body.attachments),
    )


@router.post("/tickets/{number}/hold")
def hold(ctx: CtxDep, who: WhoDep, number: str, body: HoldBody) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.hold, body)


@router.post("/tickets/{number}/tracking-link/revoke")
def revoke_tracking_link(
    ctx: CtxDep, who: WhoDep, number: str, body: RevokeBody | None = None
) -> dict[str, Any]:
    """Replace the ticket's tracking link: the old one stops working, the client is
    sent the new one on their channel."""
    return _apply(ctx, who, number, tracking.revoke, body or RevokeBody())


@router.post("/tickets/{number}/resume")
def resume(ctx: CtxDep, who: WhoDep, number: str, body: Override | None = None) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.resume, body or Override())


@router.post("/tickets/{number}/resolve")
def resolve(ctx: CtxDep, who: WhoDep, number: str, body: ResolveBody) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.resolve, body)


@router.post("/tickets/{number}/close")
def close(ctx: CtxDep, who: WhoDep, number: str, body: CloseBody | None = None) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.close, body or CloseBody())


@router.post("/tickets/{number}/reopen")
def reopen(ctx: CtxDep, who: WhoDep, number: str, body: ReopenBody | None = None) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.reopen, body or ReopenBody())


@router.post("/tickets/{number}/priority")
def set_priority(ctx: CtxDep, who: WhoDep, number: str, body: PriorityBody) -> dict[str, Any]:
    return _apply(ctx, who, number, fields.set_priority, body)


@router.post("/tickets/{number}/category")
def set_category(ctx: CtxDep, who: WhoDep, number: str, body: CategoryBody) -> dict[str, Any]:
    return _file_under(ctx, who, number, "category", body)


@router.post("/tickets/{number}/queue")
def set_queue(ctx: CtxDep, who: WhoDep, number: str, body: QueueBody) -> dict[str, Any]:
    return _file_under(ctx, who, number, "queue", body)


def _file_under(
    ctx: Context,
    who: Principal,
    number: str,
    field: Literal["queue", "category"],
    body: CategoryBody | QueueBody,
) -> dict[str, Any]:
    """File the ticket under the category or queue the body names by slug."""
    slug = getattr(body, field)
    return _act(
        ctx,
        number,
        lambda s, t: fields.file_under(
            ctx, s, who, t, field, slug, override_reason=body.override_reason
        ),
    )


@router.post("/tickets/{number}/links")
def link(ctx: CtxDep, who: WhoDep, number: str, body: LinkBody) -> dict[str, Any]:
    refs = body.model_dump(exclude={"override_reason"}, exclude_none=True)
    return _act(
        ctx,
        number,
        lambda s, t: fields.link(ctx, s, who, t, override_reason=body.override_reason, **refs),
    )


@router.post("/tickets/{number}/merge")
def merge(ctx: CtxDep, who: WhoDep, number: str, body: MergeBody) -> dict[str, Any]:
    return _act(
        ctx,
        number,
        lambda s, t: merging.merge(
            ctx,
            s,
            who,
            t,
            into=lookup.get_ticket(s, body.into, lock=True),
            override_reason=body.override_reason,
        ),
    )


@router.post("/tickets/{number}/escalate")
def escalate(ctx: CtxDep, who: WhoDep, number: str, body: EscalateBody) -> dict[str, Any]:
    return _apply(ctx, who, number, workflow.escalate, body)


@router.post("/tickets/{number}/escalation/ack")
def acknowledge_escalation(ctx: CtxDep, who: WhoDep, number: str) -> dict[str, Any]:
    """Stop the ticket's escalation chain: no ping is sent after this returns."""
    return _act(
        ctx, number, lambda s, t: acknowledging.acknowledge(ctx, s, t, by=who.label, who=who)
    )
