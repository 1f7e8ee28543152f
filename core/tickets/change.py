"""The one path every change to a ticket takes.

Every action (opening a ticket included) calls ``apply``, inside the caller's
transaction (``ctx.db.transaction()``), which does in this order:

1. the lifecycle check (``lifecycle.check``): who may take the action, from which
   state, with which fields; a lead may pass an overridable refusal with a
   written reason, kept as ``Override`` evidence;
2. the ticket itself, when the action creates it (opening);
3. the thread entry, when the action adds a message;
4. the action's own edit, then the status move;
5. the SLA refresh (its events and the running clocks) and the desk rules' (when
   the next is due, ``core.desk.rules``);
6. the audit event and the observers (``announce``: the Slack card, ...), and the
   ticket's KPI facts (``core.kpis.facts``);
7. the notice to the client, when the action sends one.

A step that every change needs goes here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core import audit
from core.context import Context
from core.desk import rules as desk
from core.errors import ActionRefused
from core.events import Change
from core.kpis import facts
from core.models import Override, Ticket
from core.principals import Principal
from core.sla import ticket as sla
from core.tickets import lifecycle, notices, thread
from core.tickets.lifecycle import OVERRIDERS
from core.tickets.notices import Notice
from core.tickets.thread import Entry

MIN_OVERRIDE_REASON = 10


def authorize(
    session: Session,
    who: Principal,
    ticket: Ticket | None,
    action: str,
    fields: dict[str, Any],
    override_reason: str | None,
    extra: Sequence[ActionRefused] = (),
) -> list[Override]:
    """Check the action; returns the override evidence written (empty when nothing
    needed overriding). Raises ``ActionRefused`` naming the first rule that refuses."""
    refusals = lifecycle.check(action, ticket, who.roles, fields) + list(extra)
    if not refusals:
        return []
    if override_reason and not (who.roles & OVERRIDERS):
        raise ActionRefused(
            "override.role",
            f"{refusals[0].message}; only a lead may override a rule, and you are not one",
            kind="role",
        )
    if not override_reason or who.agent_id is None or ticket is None:
        first = refusals[0]
        if who.roles & OVERRIDERS and first.overridable:
            first.message += "; you may override it: send override_reason, a written reason"
        elif first.overridable:
            first.message += "; only a lead may override it (ask a lead)"
            first.overridable = False  # not for this caller: only a lead may
        raise first
    if len(override_reason.strip()) < MIN_OVERRIDE_REASON:
        raise ActionRefused(
            "override.reason",
            f"an override needs a written reason of at least {MIN_OVERRIDE_REASON} characters",
            kind="field",
        )
    evidence = [
        Override(
            ticket_id=ticket.id,
            agent_id=who.agent_id,
            action=action,
            rule=r.rule,
            reason=override_reason.strip(),
        )
        for r in refusals
    ]
    session.add_all(evidence)
    return evidence


def apply(
    ctx: Context,
    session: Session,
    who: Principal,
    ticket: Ticket | None,
    action: str,
    *,
    fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    override_reason: str | None = None,
    extra: Sequence[ActionRefused] = (),
    create: Callable[[], Ticket] | None = None,
    entry: Entry | None = None,
    edit: Callable[[], object] | None = None,
    notice: Notice | None = None,
) -> Change:
    """Take ``action`` on ``ticket`` (or, with ``create``, on the ticket it makes
    once the check has passed).

    Parameters:
      fields: what the lifecycle table checks (required values, hold reasons, ...).
      data: what the audit event and the observers are told, besides the status move.
      extra: refusals of the action's own, overridable like the table's.
      entry: a message the change adds to the thread (its id is audited as ``message``).
      edit: the action's own writes, run after the check and before the status move.
      notice: a message to the client, queued with the change.

    Raises:
      ActionRefused: the check refused, before anything was written (or the action's
        ``edit`` did: the caller's transaction then rolls back).
    """
    evidence = authorize(session, who, ticket, action, dict(fields or {}), override_reason, extra)
    if ticket is None:
        if create is None:
            raise ValueError(f"{action}: no ticket and nothing to create one")
        ticket = create()
        before = None
    else:
        before = ticket.status
    message = thread.add(ctx, session, ticket, entry) if entry is not None else None
    after = lifecycle.ACTIONS[action].target_for(ticket)
    if edit is not None:
        edit()
    ticket.status = after
    ticket.updated_at = ctx.now()
    sla.refresh(ctx, ticket)
    desk.refresh(ctx, session, ticket)
    payload: dict[str, Any] = {"to": after} if before is None else {"from": before, "to": after}
    if message is not None:
        payload["message"] = message.id
    payload.update(data or {})
    if evidence:
        payload["override"] = {"reason": evidence[0].reason, "rules": [e.rule for e in evidence]}
    change = announce(
        ctx,
        session,
        Change(action, ticket, who, before, after, payload, message.id if message else None),
        actor=who.label,
    )
    if notice is not None:
        notices.tell(
            ctx,
            session,
            ticket,
            notice,
            actor=who.label,
            message=message if notice.delivers_entry else None,
            flush=False,  # the change's writes go out together
        )
    return change


def announce(ctx: Context, session: Session, change: Change, *, actor: str) -> Change:
    """Audit a change on the ticket's chain, fold it into the ticket's KPI facts and
    tell the observers: the last steps of every change, also of those the lifecycle table does not list (an escalation
    acknowledged)."""
    audit.record(
        session,
        actor=actor,
        action=change.action,
        ticket_id=change.ticket.id,
        data=change.fields,
        now=ctx.now(),
    )
    facts.observe(session, change)
    for observer in ctx.observers:
        observer(ctx, session, change)
    return change
