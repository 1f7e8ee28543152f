"""Escalation pings in Slack: a DM or a channel mention with an Acknowledge button
that stops the chain; and who is on call, on the App Home.

The Web API is the loopback fake (every call checked against Slack's spec) and the
clock is moved by hand, as in the escalation tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.slack.pings import ACK_ACTION
from config.settings import Settings
from core.escalation import chain as escalation
from core.escalation import stepping
from core.models import AuditEvent, Escalation, OutboxDelivery, SupportQueue, Ticket
from core.sla import watch as slawatch
from tests.fakeslack import FakeSlack
from tests.harness import Harness, deliveries_in_flight, policy_file
from tests.sla_support import FakeNow, chain_toml, open_ticket, rotation_toml, wait_until
from tests.slack_support import QUEUE_CHANNEL, SlackDriver, wait_for

# The on-call agent (Ben, this week) is pinged by DM at once; five minutes later the
# queue's channel is pinged; then the chain repeats until someone acknowledges.
POLICY = chain_toml((0, "oncall", "slack"), (5, "queue", "slack")) + rotation_toml(
    "ana@support.example", "ben@support.example"
)


@pytest.fixture
def settings(tmp_path: Path, slack_config: Callable[..., Settings]) -> Settings:
    return slack_config(delivery_max_attempts=20, config_file=policy_file(tmp_path, POLICY))


@pytest.fixture
def slack(harness: Harness, fake_slack: FakeSlack, now: FakeNow) -> SlackDriver:
    return SlackDriver(harness, fake_slack, ("Ana", "UANA"), ("Ben", "UBEN"))


def breached_ticket(harness: Harness, now: FakeNow) -> tuple[int, str]:
    """A P1 in the support queue (channel CQUEUE01) whose response deadline has passed."""
    with harness.ctx.db.transaction() as s:
        queue = s.execute(
            select(SupportQueue).where(SupportQueue.slug == "support")
        ).scalar_one_or_none()
        if queue is None:
            s.add(SupportQueue(slug="support", name="Support", slack_channel=QUEUE_CHANNEL))
        else:
            queue.slack_channel = QUEUE_CHANNEL
    ticket_id = open_ticket(harness, "P1", subject="Line 2 is down")
    with harness.ctx.db.transaction() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.queue_id = s.execute(
            select(SupportQueue.id).where(SupportQueue.slug == "support")
        ).scalar_one()
        number = ticket.number
    settle(harness, now)
    now.advance(hours=3)
    assert slawatch.tick(harness.ctx) == 1
    wait_until(lambda: (chain := active_chain(harness, ticket_id)) is not None and chain.pings >= 1)
    settle(harness, now)
    return ticket_id, number


def settle(harness: Harness, now: FakeNow, timeout: float = 15.0) -> None:
    """``harness.settle`` with the clock moving: cards wait a moment (debounce) by ctx.now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with harness.ctx.db.reading() as s:
            busy = deliveries_in_flight(s)
        if not busy:
            harness.settle()
            return
        now.advance(seconds=0.5)
        time.sleep(0.05)
    raise AssertionError(f"deliveries still pending after {timeout}s")


def active_chain(harness: Harness, ticket_id: int) -> Escalation | None:
    with harness.ctx.db.reading() as s:
        row = escalation.latest(s, ticket_id)
        if row is not None:
            s.expunge(row)
        return row


def pings_sent(harness: Harness, ticket_id: int) -> list[str]:
    with harness.ctx.db.reading() as s:
        return list(
            s.execute(
                select(OutboxDelivery.recipient)
                .where(
                    OutboxDelivery.ticket_id == ticket_id,
                    OutboxDelivery.kind == "escalation",
                    OutboxDelivery.status == "sent",
                )
                .order_by(OutboxDelivery.id)
            ).scalars()
        )


def buttons(message_blocks: list[dict[str, Any]]) -> list[str]:
    return [
        str(e["action_id"])
        for b in message_blocks
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def test_a_breach_pings_the_on_call_agent_by_dm_and_their_acknowledgement_stops_the_chain(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack, now: FakeNow
) -> None:
    ticket_id, number = breached_ticket(harness, now)
    # The on-call agent (Ben) gets a DM: the ticket, what breached, a link to the card, Acknowledge
    (ping,) = fake_slack.posted("UBEN")
    shown = json.dumps(ping.blocks)
    for expected in (
        number,
        "Line 2 is down",
        "P1",
        "response",
        "fake.slack.com/archives/" + QUEUE_CHANNEL,
    ):
        assert expected in shown, expected
    assert buttons(ping.blocks) == [ACK_ACTION]
    assert "<!here>" not in shown, "a DM mentions nobody"
    # When Ben presses Acknowledge
    slack.press("UBEN", ACK_ACTION, number, channel="DBEN", message_ts=ping.ts)
    wait_for(
        lambda: (
            (row := active_chain(harness, ticket_id)) is not None and row.status == "acknowledged"
        ),
        what="the acknowledgement",
    )
    settle(harness, now)
    chain = active_chain(harness, ticket_id)
    assert chain is not None and chain.acknowledged_by == f"agent:{slack.agent_id('UBEN')}:Ben"
    # And the unassigned ticket is Ben's now, as the acknowledgement says
    view = harness.ticket(ticket_id)
    assert view["status"] == "assigned" and view["assignee"] == "Ben"
    # Then the ping says who acknowledged, and has no button any more
    (ping,) = fake_slack.posted("UBEN")
    assert "Acknowledged by Ben" in json.dumps(ping.blocks)
    assert buttons(ping.blocks) == []
    with harness.ctx.db.reading() as s:
        assert (
            "escalation_acknowledged"
            in s.execute(select(AuditEvent.action).where(AuditEvent.ticket_id == ticket_id))
            .scalars()
            .all()
        )
    # And no later ping is sent: the next step's message is stale, nothing is re-sent
    posted_before = len(fake_slack.messages)
    now.advance(minutes=30)
    assert not stepping.step(harness.ctx, chain.id, "any-old-token")
    assert escalation.resend_stalled(harness.ctx, older_than=timedelta(0)) == 0
    slawatch.tick(harness.ctx)
    settle(harness, now)
    assert pings_sent(harness, ticket_id) == ["UBEN"]
    assert [
        m
        for m in fake_slack.messages[posted_before:]
        if m.channel in ("UBEN", QUEUE_CHANNEL) and "escalated" in m.text
    ] == []


def test_the_next_step_mentions_the_queue_channel_and_an_ack_there_updates_both_pings(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack, now: FakeNow
) -> None:
    ticket_id, number = breached_ticket(harness, now)
    chain = active_chain(harness, ticket_id)
    assert chain is not None and chain.token
    now.advance(minutes=5)
    assert stepping.step(harness.ctx, chain.id, chain.token)
    settle(harness, now)
    (mention,) = [
        m for m in fake_slack.posted(QUEUE_CHANNEL) if f"{number} (P1) escalated" in m.text
    ]
    assert "<!here>" in json.dumps(mention.blocks) and buttons(mention.blocks) == [ACK_ACTION]
    # Ana (not on call) acknowledges from the channel
    slack.press("UANA", ACK_ACTION, number, channel=QUEUE_CHANNEL, message_ts=mention.ts)
    wait_for(
        lambda: (
            (row := active_chain(harness, ticket_id)) is not None and row.status == "acknowledged"
        ),
        what="the acknowledgement",
    )
    settle(harness, now)
    for message in (*fake_slack.posted("UBEN"), mention):
        assert "Acknowledged by Ana" in json.dumps(message.blocks)
        assert buttons(message.blocks) == []
    # A second press is refused with the reason, only to the one who pressed
    slack.press(
        "UBEN", ACK_ACTION, number, channel="DBEN", message_ts=fake_slack.posted("UBEN")[0].ts
    )
    refusal = wait_for(lambda: slack.ephemerals("UBEN"), what="the refusal")
    assert "no escalation waiting" in refusal[0]


def test_an_acknowledgement_through_the_api_updates_the_pings_in_slack(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack, now: FakeNow
) -> None:
    ticket_id, number = breached_ticket(harness, now)
    (ping,) = fake_slack.posted("UBEN")
    assert buttons(ping.blocks) == [ACK_ACTION]
    # A lead acknowledges from the API (or any channel without a button of its own)
    _, token = harness.agent("Cleo", ("agent", "lead"))
    response = harness.api("POST", f"/api/tickets/{number}/escalation/ack", token)
    assert response.status_code == 200, response.text
    settle(harness, now)
    # The ping in Ben's DM says who acknowledged, and offers no button to press in vain
    (ping,) = fake_slack.posted("UBEN")
    assert "Acknowledged by Cleo" in json.dumps(ping.blocks)
    assert buttons(ping.blocks) == []
    # And the ticket's thread under its card says so too
    assert any(
        "Cleo acknowledged the escalation" in m.text for m in fake_slack.posted(QUEUE_CHANNEL)
    )
    assert active_chain(harness, ticket_id).status == "acknowledged"  # type: ignore[union-attr]


def test_a_slack_user_who_is_not_an_agent_cannot_acknowledge(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack, now: FakeNow
) -> None:
    ticket_id, number = breached_ticket(harness, now)
    slack.press("UGUEST", ACK_ACTION, number, channel=QUEUE_CHANNEL)
    refusal = wait_for(lambda: slack.ephemerals("UGUEST"), what="the refusal")
    assert "not a Switchboard agent" in refusal[0]
    settle(harness, now)
    chain = active_chain(harness, ticket_id)
    assert chain is not None and chain.status == "active"
    assert buttons(fake_slack.posted("UBEN")[0].blocks) == [ACK_ACTION]


def test_the_app_home_shows_who_is_on_call(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack, now: FakeNow
) -> None:
    for user in ("UBEN", "UANA"):
        slack.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": "D" + user[1:],
                "tab": "home",
                "event_ts": "1800000000.000100",
            }
        )
    wait_for(lambda: "UBEN" in fake_slack.home and "UANA" in fake_slack.home, what="both App Homes")
    ben, ana = json.dumps(fake_slack.home["UBEN"]), json.dumps(fake_slack.home["UANA"])
    assert "On call now" in ben and "*primary*: <@UBEN> (you) until" in ben
    assert "*primary*: <@UBEN> until" in ana
