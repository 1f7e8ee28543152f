"""Agents work WhatsApp tickets from Slack: the card shows the customer-service window and a
"Send on WhatsApp" link; replies typed in the card's thread reach WhatsApp (as the template
once the window is closed); internal notes never do."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.slack.work import note_body
from channels.whatsapp.models import WhatsAppChat
from config.settings import Settings
from tests.fakeslack import FakeSlack
from tests.fakewhatsapp import FakeWhatsApp
from tests.harness import Harness, whole_system_examples
from tests.slack_support import SlackDriver, slack_options, wait_for
from tests.test_whatsapp import close_window
from tests.whatsapp_support import CLIENT, WhatsAppDriver, message, whatsapp_settings


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    fake_slack: FakeSlack,
    fake_whatsapp: FakeWhatsApp,
) -> Settings:
    return whatsapp_settings(
        tmp_path,
        database_url,
        broker_url,
        fake_whatsapp,
        **slack_options(fake_slack, slack_undo_seconds=0),
    )


def client_field(slack: SlackDriver, number: str) -> str:
    card = slack.card(number)
    return str(card.blocks[1]["fields"][0]["text"])


def opened(harness: Harness, wa: WhatsAppDriver, fake: FakeWhatsApp) -> str:
    wa.send(message("text"))
    harness.settle()
    wait_for(lambda: fake.messages(CLIENT), what="the acknowledgement")
    return harness.only_ticket_number()


def test_the_card_shows_the_open_window_and_a_send_on_whatsapp_link(
    harness: Harness, slack: SlackDriver, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    number = opened(harness, wa, fake_whatsapp)
    shown = client_field(slack, number)
    assert "replies go by whatsapp: 16505551234" in shown
    assert "WhatsApp window open 23 h more (until <!date^" in shown
    link = harness.ticket(number)["tracking_link"]
    # The tracking link's token ends with the time it was made: the card's may be a
    # second older, so the ticket's nonce (before the first dot) is what must match.
    nonce_part = link[: link.index(".", link.index("/t/")) + 1]
    wanted = f"https://wa.me/{CLIENT}?text=" + quote(
        f"About your ticket {number}: {nonce_part}", safe=""
    )
    assert f"<{wanted}" in shown and "|Send on WhatsApp>" in shown
    hints = harness.ticket(number)["client"]["hints"]
    assert [h.get("text") or h["label"] for h in hints] == [
        "WhatsApp window open 23 h more",
        "Send on WhatsApp",
    ]
    assert hints[1]["link"].startswith(wanted)
    with harness.ctx.db.reading() as s:
        wrote = s.get(WhatsAppChat, CLIENT)
        assert wrote is not None
        assert datetime.fromisoformat(hints[0]["until"]) == wrote.last_client_at + timedelta(
            hours=24
        )


def test_once_the_window_closes_the_card_says_so_and_a_thread_reply_goes_as_the_template(
    harness: Harness, slack: SlackDriver, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    number = opened(harness, wa, fake_whatsapp)
    card_ts = slack.card(number).ts
    close_window(harness)
    slack.message("UANA", "The blue one is back in stock.", thread_ts=card_ts)
    sent = wait_for(
        lambda: [m for m in fake_whatsapp.messages() if m.type == "template"],
        what="the template on WhatsApp",
    )
    assert len(sent) == 1
    assert not [m for m in fake_whatsapp.messages() if "blue one" in m.text]
    harness.settle()
    wait_for(
        lambda: (
            "WhatsApp window closed: your reply goes as a template" in client_field(slack, number)
        ),
        what="the card to say the window is closed",
    )


@whole_system_examples(10)
@given(
    prefix=st.sampled_from(["note", "internal", "private", "NOTE", "Internal"]),
    space=st.sampled_from(["", " ", "\n", "*"]),
    body=st.text(st.characters(blacklist_categories=["Cs"]), max_size=60),
)
def test_no_internal_note_ever_reaches_whatsapp(
    harness: Harness,
    slack: SlackDriver,
    wa: WhatsAppDriver,
    fake_whatsapp: FakeWhatsApp,
    prefix: str,
    space: str,
    body: str,
) -> None:
    """Property: whatever an agent's note says, nothing of it goes to the client's chat."""
    if not harness.tickets()["total"]:
        opened(harness, wa, fake_whatsapp)
    number = harness.only_ticket_number()
    card_ts = slack.card(number).ts
    before = len(fake_whatsapp.messages())
    text = f"{space}{prefix}:{body}"
    assert note_body(text) is not None
    slack.say_in_thread("UANA", card_ts, text, what="the note to be recorded")
    assert len(fake_whatsapp.messages()) == before
    assert not [
        d
        for d in harness.ticket(number)["deliveries"]
        if d["channel"] == "whatsapp" and d["kind"] != "ack"
    ]
