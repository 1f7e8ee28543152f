"""The JSON API for running the team: agents' API tokens, deactivation and
preferences, and organizations with their contract tier.

An agent manages their own tokens and preferences (``me`` names them); a lead or
an admin manages anyone's, deactivates agents and changes organizations (403
``agents.role`` otherwise). Every change is audited (``core.agents``,
``core.organizations``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from channels.web.api import CtxDep, WhoDep
from core import agents, organizations
from core.models import MAX_ID

router = APIRouter()


class TokenBody(BaseModel):
    name: str = Field("", max_length=100, description="What the token is for, e.g. 'laptop'.")


class ReasonBody(BaseModel):
    reason: str = Field("", description="Kept in the audit.")


class QuietHours(BaseModel):
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM")
    timezone: str = "UTC"


class PreferencesBody(BaseModel):
    """Only the keys sent change; null removes one."""

    channels: list[str] | None = Field(None, description="slack, telegram, email, fake, in order")
    addresses: dict[str, str] | None = Field(None, description="channel -> address")
    quiet_hours: QuietHours | None = None


class OrganizationBody(BaseModel):
    name: str | None = Field(None, max_length=200)
    tier: str | None = Field(None, max_length=40, description="What [[sla_rules]] select by")
    email_domain: str | None = Field(None, description="'' or null removes it")


class NewOrganization(OrganizationBody):
    name: str = Field(min_length=1, max_length=200)
    tier: str = "standard"


class MemberBody(BaseModel):
    organization: str | None = Field(description="Its id or name; null: in none")


@router.get("/agents")
def list_agents(ctx: CtxDep, who: WhoDep) -> dict[str, Any]:
    from sqlalchemy import select

    from core.models import Agent

    with ctx.db.reading() as session:
        rows = session.execute(select(Agent).order_by(Agent.id)).scalars()
        return {"agents": [agents.agent_dict(a) for a in rows]}


@router.get("/agents/{ref}")
def show_agent(ctx: CtxDep, who: WhoDep, ref: str) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return agents.agent_dict(agents.find(session, ref, who))


@router.get("/agents/{ref}/tokens")
def list_tokens(ctx: CtxDep, who: WhoDep, ref: str) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return {"tokens": agents.tokens(session, who, agents.find(session, ref, who))}


@router.post("/agents/{ref}/tokens", status_code=201)
def issue_token(ctx: CtxDep, who: WhoDep, ref: str, body: TokenBody) -> dict[str, Any]:
    """A new token; ``token`` is shown in this answer only."""
    with ctx.db.transaction() as session:
        return agents.issue_token(ctx, session, who, agents.find(session, ref, who), body.name)


@router.delete("/tokens/{token_id}")
def revoke_token(
    ctx: CtxDep, who: WhoDep, token_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        return agents.revoke_token(ctx, session, who, token_id)


@router.post("/agents/{ref}/{change}")
def activate(
    ctx: CtxDep,
    who: WhoDep,
    ref: str,
    change: Literal["deactivate", "reactivate"],
    body: ReasonBody | None = None,
) -> dict[str, Any]:
    """Deactivate (tokens refused, no pings, no assignments) or reactivate an agent."""
    with ctx.db.transaction() as session:
        agent = agents.find(session, ref, who)
        active = change == "reactivate"
        return agents.set_active(ctx, session, who, agent, active, body.reason if body else "")


@router.patch("/agents/{ref}/preferences")
def set_preferences(ctx: CtxDep, who: WhoDep, ref: str, body: PreferencesBody) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        agent = agents.find(session, ref, who)
        return agents.set_preferences(ctx, session, who, agent, body.model_dump(exclude_unset=True))


@router.get("/organizations")
def list_organizations(ctx: CtxDep, who: WhoDep) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return {"organizations": organizations.listing(session)}


@router.post("/organizations", status_code=201)
def add_organization(ctx: CtxDep, who: WhoDep, body: NewOrganization) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        org = organizations.create(ctx, session, who, body.name, body.tier, body.email_domain)
        return organizations.org_dict(org, session)


@router.get("/organizations/{ref}")
def show_organization(ctx: CtxDep, who: WhoDep, ref: str) -> dict[str, Any]:
    with ctx.db.reading() as session:
        return organizations.org_dict(organizations.get(session, ref), session)


@router.patch("/organizations/{ref}")
def change_organization(
    ctx: CtxDep, who: WhoDep, ref: str, body: OrganizationBody
) -> dict[str, Any]:
    """Change the fields sent; a new tier moves open tickets to the SLA policy it selects."""
    with ctx.db.transaction() as session:
        org = organizations.get(session, ref)
        return organizations.update(ctx, session, who, org, body.model_dump(exclude_unset=True))


@router.put("/contacts/{ref}/organization")
def set_contact_organization(
    ctx: CtxDep, who: WhoDep, ref: str, body: MemberBody
) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        org = organizations.get(session, body.organization) if body.organization else None
        return organizations.set_contact_organization(ctx, session, who, ref, org)
