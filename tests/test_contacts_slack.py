"""One client across channels, worked from Slack: /ticket link, unlink, contact, the
card's Same client as… modal, and an erasure of the client's personal data reaching
what was posted in Slack. Every Web API call goes to the spec-checking fake."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from config.settings import Settings
from tests.fakeslack import FakeSlack
from tests.harness import Harness
from tests.slack_support import QUEUE_CHANNEL, SlackDriver, wait_for


@pytest.fixture
def settings(slack_config: Callable[..., Settings]) -> Settings:
    return slack_config(slack_undo_seconds=0.0)


def two_tickets(harness: Harness) -> None:
    harness.fake.receive("tom-desk", "Monitor flickers.", subject="Monitor", sender_name="Tom")
    harness.settle()
    harness.fake.receive("tom-phone", "Gate 4 is stuck.", subject="Gate 4")
    harness.settle()


def test_ticket_link_joins_two_clients_and_their_cards_say_where_replies_go(
    harness: Harness, slack: SlackDriver
) -> None:
    two_tickets(harness)
    card_ts = slack.card("T-000002").ts
    answer = slack.command("UANA", "link T-000001 T-000002 | he called from both").json()["text"]
    assert "Linked C-000002" in answer and "into C-000001" in answer
    shown = slack.command("UANA", "contact T-000002").json()["text"]
    assert "fake: tom-desk" in shown and "fake: tom-phone" in shown
    assert "T-000001" in shown and "T-000002" in shown
    harness.settle()
    # The moved ticket's thread says what happened, and its card names the client now
    thread = wait_for(
        lambda: [t for t in slack.thread(card_ts) if "linked the client" in t],
        what="the event line in the thread",
    )
    assert "fake:tom-phone" in thread[0]
    card = json.dumps(slack.card("T-000002").blocks)
    assert "Tom" in card and "replies go by fake: tom-phone" in card
    # Linking them again is refused, naming the rule
    again = slack.command("UANA", "link T-000001 C-000002").json()["text"]
    assert "contacts.same" in again or "contacts.merged" in again


def test_ticket_unlink_splits_an_address_off_and_mistakes_are_answered_in_words(
    harness: Harness, slack: SlackDriver
) -> None:
    two_tickets(harness)
    slack.command("UANA", "link C-000001 fake:tom-phone")
    answer = slack.command("UANA", "unlink C-000001 fake:tom-phone").json()["text"]
    assert "fake:tom-phone is C-000002" in answer
    assert "T-000001" not in slack.command("UANA", "contact fake:tom-phone").json()["text"]
    assert "no contact" in slack.command("UANA", "contact C-000077").json()["text"]
    assert "Usage" in slack.command("UANA", "link C-000001").json()["text"]
    stranger = slack.command("USTRANGER", "link C-000001 C-000002").json()["text"]
    assert "not a Switchboard agent" in stranger


def test_the_same_client_modal_links_the_named_client_and_shows_a_bad_name_under_the_field(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    two_tickets(harness)
    card_ts = slack.card("T-000001").ts
    slack.press("UANA", "sb_contact", "T-000001", message_ts=card_ts)
    view = wait_for(
        lambda: [v for v in fake_slack.views if v["callback_id"] == "sb_modal_contact"],
        what="the Same client modal",
    )[-1]
    wrong = slack.submit("UANA", view, {"other": "T-000099", "reason": ""})
    assert wrong.json()["response_action"] == "errors"
    assert "T-000099" in wrong.json()["errors"]["other"]
    ok = slack.submit("UANA", view, {"other": "fake:tom-phone", "reason": "same badge"})
    assert ok.status_code == 200 and not ok.content.strip(), ok.text
    with_both = harness.api(
        "GET", "/api/contacts/C-000001", harness.agent("Bea", email="bea@support.example")[1]
    ).json()
    assert {t["number"] for t in with_both["tickets"]} == {"T-000001", "T-000002"}
    assert with_both["history"][0]["reason"] == "same badge"
    assert with_both["history"][0]["by"].endswith("Ana")


# An erasure ----------------------------------------------------------------------------

NAME = "Zebediah Quuxington"
ADDRESS = "+15550001234"
SECOND = "+15550009876"  # their second phone, linked by an agent
BODY = "The hydraulic pump on line 7 leaks red fluid near gate K9"
NEEDLES = ("zebediah", "quuxington", ADDRESS, SECOND, "hydraulic pump")


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
    harness.settle()  # C-000002, before the next client writes
    # Another client's message names them
    harness.fake.receive("olga", f"My colleague ({ADDRESS}) saw it too.", subject="Forklift")
    harness.settle()
    linked = harness.api("POST", "/api/contacts/C-000001/link", agent, json={"contact": "C-000002"})
    assert linked.status_code == 200, linked.text
    harness.settle()
    card = slack.card("T-000001")
    # Before: both cards, the client's messages, the reply, the note, the link's event
    # line (naming the linked address) and the other client's message show them in Slack
    wait_for(
        lambda: [s for s in _shown(fake_slack) if "linked the client" in s and SECOND in s],
        what="the link's event line",
    )
    assert len(_naming(fake_slack)) >= 7

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
