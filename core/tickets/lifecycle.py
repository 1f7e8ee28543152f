"""The ticket lifecycle as data: states, actions, who may take them, what they need.

Every core action looks itself up here before it changes anything; channels and
UIs cannot bypass it. ``check()`` raises ``ActionRefused`` naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ActionRefused
from core.models import PRIORITIES, Ticket, TicketStatus

OPEN_STATES = frozenset(
    {
        TicketStatus.NEW,
        TicketStatus.ACKNOWLEDGED,
        TicketStatus.ASSIGNED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.ON_HOLD,
    }
)
WORKING_STATES = frozenset(
    {TicketStatus.ACKNOWLEDGED, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS}
)

ROLES = ("client", "agent", "lead", "admin", "system")
STAFF = frozenset({"agent", "lead", "admin"})
OVERRIDERS = frozenset({"lead", "admin"})

HOLD_REASONS = ("waiting_on_client", "pending_parts", "other")


def _reopen_target(ticket: Ticket) -> TicketStatus:
    return TicketStatus.ASSIGNED if ticket.assignee_id else TicketStatus.ACKNOWLEDGED


@dataclass(frozen=True)
class Action:
    """One row of the lifecycle table.

    Parameters:
      name: the core action.
      sources: states it may start from.
      target: the state it leads to; None keeps the status; a callable decides.
      roles: who may take it.
      needs: required fields (checked by ``check``; see ``FIELD_RULES``).
    """

    name: str
    sources: frozenset[TicketStatus]
    target: TicketStatus | Callable[[Ticket], TicketStatus] | None
    roles: frozenset[str]
    needs: tuple[str, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def target_for(self, ticket: Ticket) -> TicketStatus:
        if self.target is None:
            return ticket.status
        if callable(self.target):
            return self.target(ticket)
        return self.target


def _a(
    name: str,
    sources: set[TicketStatus] | frozenset[TicketStatus],
    target: TicketStatus | Callable[[Ticket], TicketStatus] | None,
    roles: set[str],
    needs: tuple[str, ...] = (),
    description: str = "",
) -> Action:
    return Action(name, frozenset(sources), target, frozenset(roles), needs, description)


ALL = frozenset(TicketStatus)
ANY_STAFF = set(STAFF)

TABLE: tuple[Action, ...] = (
    _a(
        "open",
        set(),
        TicketStatus.NEW,
        {"client", "agent", "lead", "admin", "system"},
        ("subject",),
        "open a ticket",
    ),
    _a(
        "acknowledge",
        {TicketStatus.NEW},
        TicketStatus.ACKNOWLEDGED,
        ANY_STAFF | {"system"},
        (),
        "tell the client we have it",
    ),
    _a(
        "assign",
        OPEN_STATES - {TicketStatus.ON_HOLD},
        TicketStatus.ASSIGNED,
        ANY_STAFF,
        ("assignee",),
        "give the ticket to an agent",
    ),
    _a(
        "start",
        {TicketStatus.ACKNOWLEDGED, TicketStatus.ASSIGNED},
        TicketStatus.IN_PROGRESS,
        ANY_STAFF,
        (),
        "start work",
    ),
    _a("reply", OPEN_STATES, None, ANY_STAFF, ("text",), "public reply to the client"),
    _a(
        "client_reply",
        OPEN_STATES | {TicketStatus.RESOLVED},
        None,
        {"client", "system"},
        ("text",),
        "the client wrote again",
    ),
    _a("note", ALL, None, ANY_STAFF, ("text",), "internal note, never sent to the client"),
    _a(
        "hold",
        WORKING_STATES,
        TicketStatus.ON_HOLD,
        ANY_STAFF,
        ("hold_reason",),
        "pause: waiting on client, parts or other",
    ),
    _a(
        "resume",
        {TicketStatus.ON_HOLD},
        TicketStatus.IN_PROGRESS,
        ANY_STAFF | {"system"},
        (),
        "end a hold",
    ),
    _a(
        "resolve",
        OPEN_STATES - {TicketStatus.NEW},
        TicketStatus.RESOLVED,
        ANY_STAFF,
        ("resolution_code", "resolution_steps"),
        "record the fix",
    ),
    _a(
        "close",
        {TicketStatus.RESOLVED},
        TicketStatus.CLOSED,
        ANY_STAFF | {"client", "system"},
        (),
        "close a resolved ticket",
    ),
    _a(
        "reopen",
        {TicketStatus.RESOLVED, TicketStatus.CLOSED},
        _reopen_target,
        ANY_STAFF | {"client", "system"},
        (),
        "work on it again",
    ),
    _a(
        "set_priority",
        OPEN_STATES,
        None,
        ANY_STAFF | {"system"},
        ("priority", "reason"),
        "change priority",
    ),
    _a("set_category", OPEN_STATES, None, ANY_STAFF | {"system"}, ("category",), "change category"),
    _a("set_queue", OPEN_STATES, None, ANY_STAFF | {"system"}, ("queue",), "move to another queue"),
    _a(
        "link",
        ALL - {TicketStatus.CLOSED},
        None,
        ANY_STAFF | {"system"},
        (),
        "link asset, site, work order, location",
    ),
    _a(
        "merge", OPEN_STATES, TicketStatus.CLOSED, ANY_STAFF, ("into",), "merge into another ticket"
    ),
    _a(
        "escalate",
        OPEN_STATES,
        None,
        ANY_STAFF | {"system"},
        (),
        "mark escalated (SLA breach or by hand)",
    ),
)

ACTIONS: dict[str, Action] = {a.name: a for a in TABLE}


def _needs_value(name: str, fields: dict[str, Any]) -> None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ActionRefused(f"field.{name}", f"{name.replace('_', ' ')} is required", kind="field")


def _hold_fields(fields: dict[str, Any]) -> None:
    reason = fields.get("hold_reason")
    if reason not in HOLD_REASONS:
        raise ActionRefused(
            "hold.reason", f"hold reason must be one of {', '.join(HOLD_REASONS)}", kind="field"
        )
    if reason == "pending_parts":
        _needs_value("parts_ref", fields)
    if reason == "other":
        _needs_value("hold_note", fields)


def _priority_fields(fields: dict[str, Any]) -> None:
    if fields.get("priority") not in PRIORITIES:
        raise ActionRefused(
            "priority.value", f"priority must be one of {', '.join(PRIORITIES)}", kind="field"
        )


FIELD_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "hold": _hold_fields,
    "set_priority": _priority_fields,
}


def check(
    action_name: str,
    ticket: Ticket | None,
    roles: frozenset[str] | set[str],
    fields: dict[str, Any],
) -> list[ActionRefused]:
    """Check an action against the table.

    Returns the overridable refusals (a lead with a written reason may pass them);
    raises ``ActionRefused`` for anything that cannot be overridden.
    """
    action = ACTIONS[action_name]
    roles = frozenset(roles)
    overridable: list[ActionRefused] = []
    if not roles & action.roles:
        raise ActionRefused(
            "lifecycle.role",
            f"{action_name.replace('_', ' ')} needs one of the roles {', '.join(sorted(action.roles))}",
            kind="role",
        )
    if ticket is not None and action.sources and ticket.status not in action.sources:
        overridable.append(
            ActionRefused(
                "lifecycle.state",
                f"cannot {action_name.replace('_', ' ')} a ticket that is {ticket.status.replace('_', ' ')}",
                kind="state",
                overridable=True,
            )
        )
    for name in action.needs:
        if name == "reason" and "system" in roles:
            continue
        _needs_value(name, fields)
    rule = FIELD_RULES.get(action_name)
    if rule:
        rule(fields)
    return overridable
