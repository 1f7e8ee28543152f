"""An erasure of a client's personal data reaches what Switchboard posted in Slack: the
card and every line of its thread are drawn again from the erased rows."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from config.settings import Settings
from tests.fakeslack import FakeSlack
from tests.harness import Harness
from tests.slack_support import QUEUE_CHANNEL, SlackDriver, wait_for

NAME = "Zebediah Quuxington"
ADDRESS = "+15550001234"
SECOND = "+15550009876"  # their second phone, linked by an agent
BODY = "The hydraulic pump on line 7 leaks red fluid near gate K9"
NEEDLES = ("zebediah", "quuxington", ADDRESS, SECOND, "hydraulic pump")


@pytest.fixture
def settings(slack_config: Callable[..., Settings]) -> Settings:
    return slack_config(slack_undo_seconds=0.0)


@pytest.fixture
def slack(harness: Harness, fake_slack: FakeSlack) -> SlackDriver:
    return SlackDriver(harness, fake_slack, ("Ana", "UANA"))


def _shown(fake: FakeSlack) -> list[str]:
    """Everything the queue channel shows now: each message's text and blocks."""
    return [f"{m.text} {json.dumps(m.blocks)}".lower() for m in fake.posted(QUEUE_CHANNEL)]


def _naming(fake: FakeSlack) -> list[str]:
    return [shown for shown in _shown(fake) if any(n.lower() in shown for n in NEEDLES)]


def test_an_erasure_redraws_the_card_and_every_line_posted_in_its_thread(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    _, lead = harness.agent("Lena", roles=("lead",))
    _, agent = harness.agent("Bo")
    harness.fake.receive(ADDRESS, BODY, subject="Pump leaking", sender_name=NAME)
    harness.settle()
    for path, body in (
        ("reply", {"text": f"Hello {NAME}, a technician is on the way."}),
        ("note", {"text": f"{NAME} called again, very upset."}),
    ):
        response = harness.api("POST", f"/api/tickets/T-000001/{path}", agent, json=body)
        assert response.status_code == 200, (path, response.text)
    harness.fake.receive(SECOND, "Gate K9 again.", subject="Gate K9")
    harness.settle()
    linked = harness.api("POST", "/api/contacts/C-000001/link", agent, json={"contact": "C-000002"})
    assert linked.status_code == 200, linked.text
    harness.settle()
    card = slack.card("T-000001")
    # Before: both cards, the client's messages, the reply, the note and the link's event
    # line (naming the linked address) show the client in Slack
    wait_for(
        lambda: [s for s in _shown(fake_slack) if "linked the client" in s and SECOND in s],
        what="the link's event line",
    )
    assert len(_naming(fake_slack)) >= 6

    erased = harness.api(
        "POST",
        "/api/contacts/C-000001/erase",
        lead,
        json={"reason": "GDPR request R-17", "confirm": True},
    )
    assert erased.status_code == 200, erased.text
    harness.settle()

    # After: nothing Switchboard posted still names them, updated in place (no new card)
    wait_for(lambda: not _naming(fake_slack), what="every Slack message to forget the client")
    assert slack.card("T-000001").ts == card.ts
    thread = [json.dumps(m.blocks) for m in fake_slack.posted(QUEUE_CHANNEL, card.ts)]
    assert any("erased the client" in line for line in thread)
    # The link's event line (on the linked ticket's thread) says what happened, not whom
    assert any(
        "linked the client with another contact (details removed" in shown
        for shown in _shown(fake_slack)
    )
    # ... and every update went to the fake, which checks each call against Slack's spec
    assert fake_slack.calls_of("chat.update")
