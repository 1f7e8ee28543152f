"""``POST /telegram/link-code``: an agent (API token) gets a one-time code to send the
bot as ``/link CODE`` from their Telegram account (``linking``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from channels.telegram import linking
from channels.web.api import CtxDep, WhoDep
from core.models import Agent


def link_code_route(web: Any) -> None:
    router = APIRouter()

    @router.post("/telegram/link-code")
    def link_code(ctx: CtxDep, who: WhoDep) -> dict[str, Any]:
        with ctx.db.transaction() as session:
            agent = session.get(Agent, who.agent_id)
            assert agent is not None
            code = linking.issue(ctx, session, agent)
        return {
            "code": code,
            "minutes": linking.LINK_MINUTES,
            "how": f"send '/link {code}' to the bot from your Telegram account",
        }

    web.include_router(router)
