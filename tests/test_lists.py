"""Read models as queries: the tickets needing attention are found by an index, and
agree with the SLA state shown on each ticket at every moment."""

from __future__ import annotations

from core.models import Agent, Ticket
from core.sla import ticket as sla
from core.tickets import lists, workflow
from tests.harness import Harness
from tests.sla_support import (
    FakeNow,
    act,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
)


def test_needing_attention_agrees_with_each_tickets_sla_state_as_time_passes(
    harness: Harness, now: FakeNow
) -> None:
    # Given three tickets: one left alone, one acknowledged, one put on hold for a while
    ana = staff(harness, "Ana")[0]
    alone = open_ticket(harness, "P2")
    answered = open_ticket(harness, "P2")
    held = open_ticket(harness, "P1")
    checked = 0
    for step in range(60):  # ten hours in ten-minute steps
        now.advance(minutes=10)
        if step == 2:
            act(harness, answered, workflow.acknowledge, ana)
        if step == 4:
            act(harness, held, workflow.acknowledge, ana)
            act(harness, held, workflow.hold, ana, reason="waiting_on_client")
        if step == 30:
            act(harness, held, workflow.resume, ana)
        with harness.ctx.db.reading() as session:
            found = {t.id for t in lists.needing_attention(session, now(), limit=100)}
            for ticket_id in (alone, answered, held):
                ticket = session.get(Ticket, ticket_id)
                assert ticket is not None
                state = sla.state(harness.ctx, ticket, now())
                # Then a ticket is listed exactly when its state is at risk or breached
                assert (ticket_id in found) == (state in ("yellow", "red")), (step, ticket_id)
                checked += state != "green"
    assert checked > 0  # the walk did reach at-risk and breached states


def test_an_agents_open_tickets_leave_the_list_when_closed(harness: Harness, now: FakeNow) -> None:
    ana = staff(harness, "Ana")[0]
    first, second = open_ticket(harness, "P3"), open_ticket(harness, "P3")
    with harness.ctx.db.reading() as session:
        agent = session.get(Agent, ana.agent_id)
    for ticket in (first, second):
        act(harness, ticket, workflow.assign, ana, assignee=agent)
    act(harness, first, workflow.resolve, ana, code="fixed", steps="Replaced the fuse.")
    with harness.ctx.db.reading() as session:
        mine = lists.open_for_agent(session, ana.agent_id or 0)
    assert [t.id for t in mine] == [second]
