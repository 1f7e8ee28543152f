"""Running the team: agents' API tokens, deactivation and notification preferences.

The command line and the JSON API call these; every change is audited on the
``system`` chain. An agent manages their own tokens and preferences; a lead or an
admin (or the operator at the command line) manages anyone's, and only they
deactivate an agent.

A token is shown once, when issued: only its SHA-256 is kept (``ApiToken``), with a
name and its first characters to tell it apart. A revoked token, or any token of an
inactive agent, is refused at once (``authenticate``). An inactive agent gets no
more pings (escalation targets and warnings look only at active agents) and no
more assignments (``workflow.assign`` refuses them).
"""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.escalation.notify import STAFF_CHANNELS
from core.models import Agent, ApiToken, as_id
from core.principals import Principal
from core.tickets.views import fields_of
from core.tokens import api_token, hash_token

MANAGERS = frozenset({"lead", "admin"})
PREFERENCE_KEYS = ("channels", "addresses", "quiet_hours")


def find(session: Session, ref: str, who: Principal | None = None) -> Agent:
    """The agent ``ref`` names: ``me`` (``who``), an id, or an email. Raises ``NotFound``."""
    ref = ref.strip()
    agent: Agent | None
    if ref == "me":
        agent = session.get(Agent, who.agent_id) if who and who.agent_id else None
    elif ref.isdigit():
        agent_id = as_id(ref)
        agent = session.get(Agent, agent_id) if agent_id is not None else None
    else:
        agent = session.execute(
            select(Agent).where(Agent.email == ref.lower())
        ).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"no agent '{ref}' (give 'me', an agent id or an agent's email)")
    return agent


def authenticate(session: Session, token: str) -> Agent | None:
    """The active agent holding this token, unless it was revoked; else None."""
    return session.execute(
        select(Agent)
        .join(ApiToken, ApiToken.agent_id == Agent.id)
        .where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            Agent.active.is_(True),
        )
    ).scalar_one_or_none()


def _may_manage(who: Principal, agent: Agent, what: str) -> None:
    if who.kind == "system" or who.roles & MANAGERS or who.agent_id == agent.id:
        return
    raise ActionRefused(
        "agents.role", f"only a lead or an admin may {what} another agent's", kind="role"
    )


def require_manager(who: Principal, what: str) -> None:
    if who.kind != "system" and not who.roles & MANAGERS:
        raise ActionRefused("agents.role", f"only a lead or an admin may {what}", kind="role")


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent": row.agent_id,
        **fields_of(row, "name", "hint", "created_at", "created_by", "revoked_at", "revoked_by"),
    }


def agent_dict(agent: Agent) -> dict[str, Any]:
    return {
        **fields_of(agent, "id", "name", "email", "roles", "active"),
        "addresses": {i.channel: i.address for i in agent.identities},
        "preferences": agent.preferences or {},
    }


def issue_token(
    ctx: Context, session: Session, who: Principal, agent: Agent, name: str = ""
) -> dict[str, Any]:
    """A new token for ``agent``; the returned ``token`` is the only time it is shown."""
    _may_manage(who, agent, "issue a token for")
    if not agent.active:
        raise ActionRefused(
            "agents.inactive", f"{agent.name} is not active: reactivate them first", kind="state"
        )
    name = name.strip() or "token"
    if len(name) > 100:
        raise ActionRefused("field.name", "a token's name is at most 100 characters", kind="field")
    token = api_token()
    row = ApiToken(
        agent_id=agent.id,
        name=name,
        token_hash=hash_token(token),
        hint=token[:8] + "…",
        created_at=ctx.now(),
        created_by=who.label,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=who.label,
        action="api_token_issued",
        data={"agent": agent.id, "token": row.id, "name": name},
        now=ctx.now(),
    )
    return {**token_dict(row), "token": token}


def tokens(session: Session, who: Principal, agent: Agent) -> list[dict[str, Any]]:
    """The agent's tokens, revoked ones included (never the tokens themselves)."""
    _may_manage(who, agent, "list the tokens of")
    rows = session.execute(
        select(ApiToken).where(ApiToken.agent_id == agent.id).order_by(ApiToken.id)
    ).scalars()
    return [token_dict(r) for r in rows]


def revoke_token(ctx: Context, session: Session, who: Principal, token_id: int) -> dict[str, Any]:
    """Revoke one token by its id: it is refused from now on. Revoking twice changes nothing."""
    row = session.get(ApiToken, token_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no API token {token_id} (tokens list shows their ids)")
    _may_manage(who, row.agent, "revoke a token of")
    if row.revoked_at is None:
        row.revoked_at = ctx.now()
        row.revoked_by = who.label
        audit.record(
            session,
            actor=who.label,
            action="api_token_revoked",
            data={"agent": row.agent_id, "token": row.id, "name": row.name},
            now=ctx.now(),
        )
    return token_dict(row)


def set_active(
    ctx: Context, session: Session, who: Principal, agent: Agent, active: bool, reason: str = ""
) -> dict[str, Any]:
    """Deactivate (or reactivate) an agent. An inactive agent's tokens are refused, and
    they get no pings or assignments; their open tickets keep them as assignee until
    reassigned. Raises ``ActionRefused`` (``agents.role``) for anyone but a lead or admin."""
    require_manager(who, "deactivate or reactivate an agent")
    if who.agent_id == agent.id and not active:
        raise ActionRefused("agents.self", "an agent cannot deactivate themselves", kind="conflict")
    if agent.active != active:
        agent.active = active
        audit.record(
            session,
            actor=who.label,
            action="agent_reactivated" if active else "agent_deactivated",
            data={"agent": agent.id, "reason": reason},
            now=ctx.now(),
        )
    return agent_dict(agent)


def set_preferences(
    ctx: Context, session: Session, who: Principal, agent: Agent, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the keys of ``Agent.preferences`` given (``channels``, ``addresses``,
    ``quiet_hours``); None removes one. Each is checked before anything is written.

    Raises ``ActionRefused`` (``field.preferences.KEY``) naming what is wrong."""
    _may_manage(who, agent, "change the preferences of")
    current = dict(agent.preferences or {})
    for key, value in changes.items():
        if key not in PREFERENCE_KEYS:
            raise _bad(key, f"unknown preference; known: {', '.join(PREFERENCE_KEYS)}")
        if value is None:
            current.pop(key, None)
        else:
            current[key] = _CHECKS[key](value)
    if current != (agent.preferences or {}):
        agent.preferences = current
        audit.record(
            session,
            actor=who.label,
            action="agent_preferences",
            data={"agent": agent.id, "preferences": current},
            now=ctx.now(),
        )
    return agent_dict(agent)


def _bad(key: str, message: str) -> ActionRefused:
    return ActionRefused(f"field.preferences.{key}", f"{key}: {message}", kind="field")


def _channels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _bad("channels", "a list of channel names, in the order to try them")
    unknown = [c for c in value if c not in STAFF_CHANNELS]
    if unknown:
        raise _bad("channels", f"unknown {', '.join(unknown)}; known: {', '.join(STAFF_CHANNELS)}")
    return list(dict.fromkeys(value))


def _addresses(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad("addresses", 'an object of channel to address, e.g. {"fake": "ana-pager"}')
    out: dict[str, str] = {}
    for channel, address in value.items():
        if channel not in STAFF_CHANNELS:
            raise _bad(
                "addresses", f"unknown channel {channel}; known: {', '.join(STAFF_CHANNELS)}"
            )
        if not isinstance(address, str) or not address.strip():
            raise _bad("addresses", f"the {channel} address must be a non-empty string")
        out[channel] = address.strip()
    return out


def _quiet_hours(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not {"start", "end"} <= value.keys():
        raise _bad("quiet_hours", 'give start and end, e.g. {"start": "22:00", "end": "07:00"}')
    out = {"start": str(value["start"]), "end": str(value["end"])}
    for key in ("start", "end"):
        try:
            time.fromisoformat(out[key])
        except ValueError:
            raise _bad("quiet_hours", f"{key} '{out[key]}' is not a time (HH:MM)") from None
    if out["start"] == out["end"]:
        raise _bad("quiet_hours", "start and end are the same time")
    zone = str(value.get("timezone") or "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("quiet_hours", f"unknown timezone '{zone}' (e.g. Europe/Paris)") from None
    out["timezone"] = zone
    return out


_CHECKS = {"channels": _channels, "addresses": _addresses, "quiet_hours": _quiet_hours}
