"""The question, queued with the resolution it is about."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.context import Context
from core.models import OutboxDelivery, ResolutionRecord, Ticket
from core.satisfaction import BUTTONS, button_id
from core.satisfaction.config import config
from core.tickets import notices
from core.tickets.notices import Notice
from core.tokens import satisfaction_token


def ask(
    ctx: Context, session: Session, ticket: Ticket, resolution: ResolutionRecord, serial: int
) -> OutboxDelivery | None:
    """Queue "Is it fixed?" to the ticket's client, on their channel, for the
    ``serial``-th resolution (outbox key ``satisfaction:TICKET:N``). None when the
    policy asks nothing or the client cannot be reached."""
    if not config(ctx.policy).ask:
        return None
    token = satisfaction_token(ctx.secret, resolution.id)
    links = {
        "fixed": ctx.satisfaction_link(token, "fixed=yes"),
        "not_fixed": ctx.satisfaction_link(token, "fixed=no"),
        "ratings": [(n, ctx.satisfaction_link(token, f"rating={n}")) for n in range(5, 0, -1)],
        "page": ctx.satisfaction_link(token),
    }
    notice = Notice(
        "satisfaction",
        serial=serial,
        fields={"links": links},
        extras={"buttons": [(button_id(token, choice), title) for choice, title in BUTTONS]},
    )
    return notices.tell(ctx, session, ticket, notice, actor="system:satisfaction")
