"""An alert's ticket in Slack and in escalation, like any other ticket; and nothing,
ever, sent back to the monitoring system."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import Settings
from core.models import OutboxDelivery
from core.sla import watch as slawatch
from tests.fakealertmanager import TOKEN, FakeAlertmanager
from tests.fakeslack import FakeSlack
from tests.harness import Harness, pending_records, policy_file, wait_until
from tests.sla_support import FakeNow, chain_toml, rotation_toml
from tests.slack_support import SlackDriver
from tests.test_slack_escalation import active_chain, pings_sent, settle

POLICY = """
[[alerts.rules]]
name = "critical"
labels = { severity = "critical" }
priority = "P1"

"""
POLICY += chain_toml((0, "oncall", "slack")) + rotation_toml("ben@support.example")
ROBOT = {"alertname": "GuardDoorOpen", "asset": "ROBOT-2", "severity": "critical"}


def decided(harness: Harness, now: FakeNow) -> None:
    """Wait until the stored notifications are decided, then until what they queued left
    (the clock is moved by hand: cards wait a moment by it)."""

    def none_pending() -> bool:
        with harness.ctx.db.reading() as s:
            return not pending_records(s)

    wait_until(none_pending, what="the notifications decided")
    settle(harness, now)


@pytest.fixture
def settings(tmp_path: Path, slack_config: Callable[..., Settings]) -> Settings:
    return slack_config(
        delivery_max_attempts=20, config_file=policy_file(tmp_path, POLICY), alerts_token=TOKEN
    )


def test_an_alert_ticket_gets_its_card_its_thread_and_its_escalation_and_the_sender_nothing(
    harness: Harness, fake_slack: FakeSlack, now: FakeNow
) -> None:
    slack = SlackDriver(harness, fake_slack, ("Ben", "UBEN"))
    am = FakeAlertmanager(TestClient(harness.system.web_app()))
    # A critical alert opens a P1 ticket: its card shows the machine
    am.fire(ROBOT, {"summary": "Safety door open while running"})
    assert am.notify().status_code == 202
    decided(harness, now)
    number = harness.only_ticket_number()
    card = slack.card(number)
    shown = json.dumps(card.blocks)
    assert "P1" in shown and "*Machine* ROBOT-2" in shown and "1 alert firing" in shown
    # What the alert says later is posted in the card's thread
    am.later(3)
    am.fire(ROBOT, {"summary": "Safety door open while running", "description": "Door 3"})
    am.notify("new_alerts_added")
    decided(harness, now)
    wait_until(lambda: any("Door 3" in line for line in slack.thread(card.ts)), what="update")
    # Nobody acknowledges within the P1 target: the on-call agent is pinged
    now.advance(minutes=20)
    assert slawatch.tick(harness.ctx) == 1
    ticket_id = int(number.removeprefix("T-"))
    wait_until(lambda: (c := active_chain(harness, ticket_id)) is not None and c.pings >= 1)
    settle(harness, now)
    assert pings_sent(harness, ticket_id) == ["UBEN"]
    # The monitoring system was told nothing: no acknowledgement, no escalation notice
    now.advance(minutes=5)
    slawatch.tick(harness.ctx)
    settle(harness, now)
    with harness.ctx.db.reading() as s:
        channels = set(s.execute(select(OutboxDelivery.channel)).scalars())
    assert "alerts" not in channels and channels <= {"slack"}
    assert harness.ticket(number)["escalated"] is True
