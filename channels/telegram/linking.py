"""Agents link their Telegram account with a one-time code.

1. An agent asks for a code (``POST /telegram/link-code`` with their API token, or
   ``issue`` from code); it is shown to them once.
2. They send ``/link CODE`` to the bot from their Telegram account. The code proves
   the account is theirs: their Telegram user id becomes their ``telegram`` staff
   address (``core.staff``), where escalation pings can reach them and from
   where their Acknowledge presses count.

A code works once and for ``LINK_MINUTES``; only an HMAC of it is stored; a new
code for the same agent replaces the ones before it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels.telegram.models import TelegramLinkCode
from core import audit, staff
from core.context import Context
from core.errors import ActionRefused
from core.models import Agent

NAME = "telegram"
LINK_MINUTES = 15


def _hash(ctx: Context, code: str) -> str:
    normal = "".join(code.split()).upper()
    return hmac.new(ctx.secret, f"telegram-link:{normal}".encode(), hashlib.sha256).hexdigest()


def issue(ctx: Context, session: Session, agent: Agent) -> str:
    """A new one-time code for ``agent`` (the ones before it stop working)."""
    now = ctx.now()
    session.execute(
        update(TelegramLinkCode)
        .where(TelegramLinkCode.agent_id == agent.id, TelegramLinkCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = secrets.token_hex(4).upper()
    session.add(
        TelegramLinkCode(
            agent_id=agent.id,
            code_hash=_hash(ctx, code),
            expires_at=now + timedelta(minutes=LINK_MINUTES),
            created_at=now,
        )
    )
    session.flush()
    return code


def redeem(ctx: Context, session: Session, code: str, user: str) -> str:
    """``/link CODE`` from Telegram user ``user``: the answer to send back."""
    if not code.strip():
        return "Send /link followed by the code Switchboard gave you."
    row = session.execute(
        select(TelegramLinkCode)
        .where(TelegramLinkCode.code_hash == _hash(ctx, code))
        .with_for_update()
    ).scalar_one_or_none()
    now = ctx.now()
    if row is None or row.used_at is not None or row.expires_at < now:
        return "That code is not valid (wrong, used or expired). Ask Switchboard for a new one."
    agent = session.get(Agent, row.agent_id)
    if agent is None or not agent.active:
        return "That code belongs to an agent who is no longer active."
    row.used_at = now
    try:
        staff.set_address(session, agent, NAME, user)
    except ActionRefused as exc:
        return f"This Telegram account is already linked to another agent ({exc})."
    audit.record(
        session,
        actor=f"agent:{agent.id}:{agent.name}",
        action="staff_address_linked",
        data={"agent": agent.id, "channel": NAME, "address": user, "evidence": "one-time code"},
        now=now,
    )
    return f"Linked: you are {agent.name}. Escalation pings can reach you here now."
