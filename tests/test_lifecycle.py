"""Every action from every state by every role: allowed ones land, refused ones name the rule.

The expectations below are written out by hand from the product's rules, not read
from core/tickets/lifecycle.py, so a change to the table that breaks a rule fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import contacts
from core.errors import ActionRefused
from core.events import Change
from core.models import Agent, AuditEvent, Override
from core.principals import Principal, client_principal, system
from core.tickets import conversation, fields, lookup, merging, opening, workflow
from tests.harness import Harness

STATES = ["new", "acknowledged", "assigned", "in_progress", "on_hold", "resolved", "closed"]
OPEN = {"new", "acknowledged", "assigned", "in_progress", "on_hold"}
STAFF = {"agent", "lead", "admin"}

# action: (states it may start from, roles that may take it, resulting state or None for unchanged)
EXPECTED: dict[str, tuple[set[str], set[str], str | None]] = {
    "acknowledge": ({"new"}, STAFF | {"system"}, "acknowledged"),
    "assign": ({"new", "acknowledged", "assigned", "in_progress"}, STAFF, "assigned"),
    "start": ({"acknowledged", "assigned"}, STAFF, "in_progress"),
    "reply": (OPEN, STAFF, None),
    "note": (set(STATES), STAFF | {"system"}, None),
    "hold": ({"acknowledged", "assigned", "in_progress"}, STAFF, "on_hold"),
    "resume": ({"on_hold"}, STAFF | {"system"}, "in_progress"),
    "resolve": ({"acknowledged", "assigned", "in_progress", "on_hold"}, STAFF, "resolved"),
    # the monitoring system saw the fault clear (an alert resolved): from any open state
    "clear": (OPEN, {"system"}, "resolved"),
    "close": ({"resolved"}, STAFF | {"client", "system"}, "closed"),
    "reopen": ({"resolved", "closed"}, STAFF | {"client", "system"}, "reopened"),
    "set_priority": (OPEN, STAFF | {"system"}, None),
    "set_category": (OPEN, STAFF | {"system"}, None),
    "set_queue": (OPEN, STAFF | {"system"}, None),
    "link": (set(STATES) - {"closed"}, STAFF | {"system"}, None),
    "merge": (OPEN, STAFF, "closed"),
    "escalate": (OPEN, STAFF | {"system"}, None),
}
ROLES = ["client", "agent", "lead", "admin", "system"]


def _open(h: Harness, admin: Principal) -> int:
    return h.open_ticket(
        "Label printer jams", "It jams on every third label.", ("fake", "client-9", "Kim"), admin
    )


def _put_in_state(h: Harness, admin: Principal, admin_agent: int, state: str) -> int:
    ticket_id = _open(h, admin)
    steps: dict[str, list[str]] = {
        "new": [],
        "acknowledged": ["acknowledge"],
        "assigned": ["assign"],
        "in_progress": ["assign", "start"],
        "on_hold": ["acknowledge", "hold"],
        "resolved": ["acknowledge", "resolve"],
        "closed": ["acknowledge", "resolve", "close"],
    }
    for step in steps[state]:
        with h.ctx.db.transaction() as s:
            _do(h, s, admin, step, lookup.get_ticket(s, ticket_id, lock=True), admin_agent)
    return ticket_id


def _do(
    h: Harness,
    s: Any,
    who: Principal,
    action: str,
    ticket: Any,
    agent: int,
    override_reason: str | None = None,
) -> Any:
    ctx = h.ctx
    kw: dict[str, Any] = {"override_reason": override_reason} if override_reason else {}
    match action:
        case "acknowledge":
            return workflow.acknowledge(ctx, s, who, ticket, **kw)
        case "assign":
            return workflow.assign(ctx, s, who, ticket, assignee=s.get(Agent, agent), **kw)
        case "start":
            return workflow.start(ctx, s, who, ticket, **kw)
        case "reply":
            return conversation.reply(ctx, s, who, ticket, text="We are on it.")
        case "note":
            return conversation.note(ctx, s, who, ticket, text="Check the roller.")
        case "hold":
            return workflow.hold(ctx, s, who, ticket, reason="waiting_on_client", **kw)
        case "resume":
            return workflow.resume(ctx, s, who, ticket, **kw)
        case "resolve":
            return workflow.resolve(
                ctx, s, who, ticket, code="fixed", steps="Cleaned the roller.", **kw
            )
        case "clear":
            return workflow.resolve(
                ctx, s, who, ticket, code="fixed", steps="The alert cleared.", action="clear", **kw
            )
        case "close":
            return workflow.close(ctx, s, who, ticket, code="fixed", steps="Closed by hand.", **kw)
        case "reopen":
            return workflow.reopen(ctx, s, who, ticket, reason="again", **kw)
        case "set_priority":
            return fields.set_priority(
                ctx, s, who, ticket, priority="P2", reason="customer impact", **kw
            )
        case "set_category":
            return fields.file_under(ctx, s, who, ticket, "category", "hardware", **kw)
        case "set_queue":
            return fields.file_under(ctx, s, who, ticket, "queue", "field-service", **kw)
        case "link":
            return fields.link(ctx, s, who, ticket, asset="PRN-4", **kw)
        case "merge":
            other = opening.open_ticket(
                ctx,
                s,
                system(),
                subject="Another",
                text="other",
                requester=("fake", "client-9", "Kim"),
            )
            return merging.merge(ctx, s, who, ticket, into=other, **kw)
        case "escalate":
            return workflow.escalate(ctx, s, who, ticket, reason="customer called twice", **kw)
    raise AssertionError(action)


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_each_action_is_allowed_exactly_from_its_states_for_its_roles(
    harness: Harness, action: str
) -> None:
    principals: dict[str, Principal] = {}
    agents: dict[str, int] = {}
    for role in ("agent", "lead", "admin"):
        p, _ = harness.agent(
            f"{role.title()} One", roles=("agent",) if role == "agent" else ("agent", role)
        )
        assert p.agent_id is not None
        principals[role] = p
        agents[role] = p.agent_id
    principals["system"] = system("test")
    admin, admin_agent = principals["admin"], agents["admin"]
    sources, roles, target = EXPECTED[action]
    for state in STATES:
        for role in ROLES:
            ticket_id = _put_in_state(harness, admin, admin_agent, state)
            with harness.ctx.db.reading() as s:
                contact_id = lookup.get_ticket(s, ticket_id).contact_id
            who = client_principal(contact_id) if role == "client" else principals[role]
            allowed = state in sources and role in roles
            try:
                with harness.ctx.db.transaction() as s:
                    _do(
                        harness,
                        s,
                        who,
                        action,
                        lookup.get_ticket(s, ticket_id, lock=True),
                        agents["agent"],
                    )
            except ActionRefused as refused:
                assert not allowed, f"{role} was refused {action} from {state}: {refused}"
                expected_rule = "lifecycle.role" if role not in roles else "lifecycle.state"
                assert refused.rule == expected_rule, (action, state, role, refused.rule)
                with harness.ctx.db.reading() as s:
                    assert lookup.get_ticket(s, ticket_id).status == state, (
                        "a refused action changes nothing"
                    )
                continue
            assert allowed, f"{role} could {action} from {state}"
            with harness.ctx.db.reading() as s:
                after = lookup.get_ticket(s, ticket_id).status
            if target is None:
                assert after == state, (action, state, role)
            elif target == "reopened":
                assert after in ("acknowledged", "assigned"), (action, state, role)
            else:
                assert after == target, (action, state, role)


def test_a_lead_can_override_a_blocked_transition_only_with_a_written_reason(
    harness: Harness,
) -> None:
    lead, _ = harness.agent("Lee Lead", roles=("agent", "lead"))
    agent, _ = harness.agent("Al Agent")
    ticket_id = _open(harness, lead)
    harness.act(ticket_id, workflow.acknowledge, lead)

    def close(who: Principal, **kw: Any) -> None:
        harness.act(ticket_id, workflow.close, who, **kw)

    def refused(who: Principal, **kw: Any) -> ActionRefused:
        with pytest.raises(ActionRefused) as caught:
            close(who, **kw)
        return caught.value

    # An agent cannot close an unresolved ticket, reason or not
    by_agent = refused(
        agent, code="fixed", steps="x", override_reason="the client asked us to close it"
    )
    assert (by_agent.rule, by_agent.kind) == ("override.role", "role")
    assert "only a lead may override" in by_agent.message
    # A lead without a reason is refused, and told an override is possible
    assert "override" in refused(lead, code="fixed", steps="x").message
    # A lead with a too-short reason is refused
    assert refused(lead, code="fixed", steps="x", override_reason="ok").rule == "override.reason"
    # Closing an unresolved ticket still needs a resolution, override or not
    reason = "client confirmed by phone it works"
    assert refused(lead, override_reason=reason).rule == "close.needs_resolution"
    close(lead, code="fixed", steps="Fixed on the phone.", override_reason=reason)
    ticket = harness.ticket(ticket_id)
    assert ticket["status"] == "closed"
    assert ticket["overrides"] == [
        {
            **ticket["overrides"][0],
            "rule": "lifecycle.state",
            "reason": "client confirmed by phone it works",
            "agent": "Lee Lead",
        }
    ]
    closed = [
        e for e in ticket["audit"] if e["action"] == "close"
    ]  # the ack's delivery may be audited after it
    assert closed[-1]["data"]["override"]["reason"] == "client confirmed by phone it works"
    assert ticket["resolutions"][0]["steps"] == "Fixed on the phone."


def test_lowering_a_rule_chosen_p1_needs_a_lead(harness: Harness) -> None:
    lead, _ = harness.agent("Lee Lead", roles=("agent", "lead"))
    agent, _ = harness.agent("Al Agent")
    ticket_id = harness.open_ticket(
        "Safety guard broken on saw", "Guard is loose.", ("fake", "c-1", "")
    )
    assert harness.ticket(ticket_id)["priority"] == "P1"
    with pytest.raises(ActionRefused) as refused:
        harness.act(ticket_id, fields.set_priority, agent, priority="P3", reason="not urgent")
    assert refused.value.rule == "priority.rule_p1"
    harness.act(
        ticket_id,
        fields.set_priority,
        lead,
        priority="P3",
        reason="guard is spare, saw not in use",
        override_reason="saw is out of service until Monday",
    )
    with harness.ctx.db.reading() as s:
        evidence = s.execute(select(Override)).scalars().all()
    assert [(e.rule, e.action) for e in evidence] == [("priority.rule_p1", "set_priority")]
    assert harness.ticket(ticket_id)["priority"] == "P3"


def test_holding_needs_a_known_reason_and_pending_parts_needs_the_parts_reference(
    harness: Harness,
) -> None:
    agent, _ = harness.agent("Al Agent")
    ticket_id = _open(harness, agent)
    harness.act(ticket_id, workflow.acknowledge, agent)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"reason": "lunch"}, "hold.reason"),
        ({"reason": "pending_parts"}, "field.parts_ref"),
        ({"reason": "other"}, "field.hold_note"),
        (
            {"reason": "waiting_on_client", "until": harness.ctx.now() - timedelta(minutes=1)},
            "hold.until",
        ),
    ]
    for kwargs, rule in refusals:
        with pytest.raises(ActionRefused) as refused:
            harness.act(ticket_id, workflow.hold, agent, **kwargs)
        assert refused.value.rule == rule
    harness.act(
        ticket_id,
        workflow.hold,
        agent,
        reason="pending_parts",
        parts_ref="PO-77",
        until=datetime(2031, 5, 2, 9, 0, tzinfo=UTC),
    )
    assert harness.ticket(ticket_id)["hold"] == {
        "reason": "pending_parts",
        "parts_ref": "PO-77",
        "note": None,
        "until": "2031-05-02T09:00:00+00:00",
    }


def test_resolution_records_cannot_be_changed_in_the_database(harness: Harness) -> None:
    agent, _ = harness.agent("Al Agent")
    ticket_id = _open(harness, agent)
    harness.resolve(ticket_id, agent, "Cleaned it.")
    from sqlalchemy import text

    with pytest.raises(Exception, match="append-only"), harness.ctx.db.transaction() as s:
        s.execute(text("UPDATE resolution_records SET steps = 'something else'"))
    assert harness.ticket(ticket_id)["resolutions"][0]["steps"] == "Cleaned it."


def test_every_change_opening_and_a_clients_message_too_is_audited_and_observed_once(
    harness: Harness,
) -> None:
    # Given an observer of ticket changes (as the Slack card is)
    heard: list[Change] = []
    harness.ctx.observers.append(lambda ctx, session, change: heard.append(change))
    agent, _ = harness.agent("Ana Agent")
    try:
        # When a ticket is opened, the client writes, an agent works it, and the
        # client writes again after it was resolved
        ticket_id = _open(harness, system("intake"))
        with harness.ctx.db.transaction() as s:
            identity = contacts.find_or_create(s, "fake", "client-9", "Kim")
            t = lookup.get_ticket(s, ticket_id, lock=True)
            conversation.client_message(harness.ctx, s, t, identity, text="Also the feeder.")
            workflow.assign(harness.ctx, s, agent, t, assignee=s.get_one(Agent, agent.agent_id))
            conversation.reply(harness.ctx, s, agent, t, text="On my way.")
            conversation.note(harness.ctx, s, agent, t, text="Feeder spring worn.")
            workflow.resolve(harness.ctx, s, agent, t, code="fixed", steps="New spring.")
            conversation.client_message(harness.ctx, s, t, identity, text="Jams again.")
    finally:
        harness.ctx.observers.pop()
    # Then each change was heard once, with its status move and its thread message
    assert [(c.action, c.before, c.after, c.message_id is not None) for c in heard] == [
        ("open", None, "new", True),
        ("client_reply", "new", "new", True),
        ("assign", "new", "assigned", False),
        ("reply", "assigned", "assigned", True),
        ("note", "assigned", "assigned", True),
        ("resolve", "assigned", "resolved", False),
        ("client_reply", "resolved", "resolved", True),
        ("reopen", "resolved", "assigned", False),
    ]
    # And the audit trail says the same, in the same order, with the same data
    with harness.ctx.db.reading() as s:
        events = [
            (e.action, e.data)
            for e in s.execute(
                select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id)
            ).scalars()
            if e.action in {c.action for c in heard}
        ]
    assert events == [(c.action, json.loads(json.dumps(c.fields))) for c in heard]
