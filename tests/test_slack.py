"""Agents work the queue from Slack: cards, thread replies, notes, Undo, buttons, platform rules.

Every Web API call goes to a loopback fake that checks it against Slack's OpenAPI
spec; every request to /slack/events is signed as Slack signs it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from channels.slack.work import note_body
from config.settings import Settings
from core.models import InboundRecord, OutboxDelivery
from core.values import AttachmentIn
from tests.fakeslack import FakeSlack
from tests.harness import Harness, whole_system_examples
from tests.slack_support import QUEUE_CHANNEL, SlackDriver, event_done, stored_event, wait_for

UNDO_SECONDS = 2.0


@pytest.fixture
def settings(slack_config: Callable[..., Settings]) -> Settings:
    return slack_config(delivery_max_attempts=5, slack_undo_seconds=UNDO_SECONDS)


def open_ticket(
    harness: Harness,
    slack: SlackDriver,
    text: str = "The conveyor stopped at 08:10 and shows error E42.",
) -> tuple[str, str]:
    harness.fake.receive("plant-7", text, subject="Packing line 2 is down", sender_name="Dana")
    harness.settle()
    number = harness.only_ticket_number()
    return number, slack.card(number).ts


def client_deliveries(harness: Harness) -> list[dict[str, object]]:
    return [s for s in harness.sent() if s["kind"] != "ack"]


# Cards ---------------------------------------------------------------------------------


def test_a_client_message_becomes_a_card_with_the_message_in_its_thread(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts = open_ticket(harness, slack)
    card = slack.card(number)
    shown = json.dumps(card.blocks)
    for expected in (
        "Packing line 2 is down",
        "P1",
        "Dana",
        "fake",
        "new",
        "nobody",
        "response due",
        "E42",
        "Acknowledge",
    ):
        assert expected in shown, expected
    assert any("E42" in line and "Dana" in line for line in slack.thread(card_ts))


def test_a_file_the_client_sent_is_linked_from_the_thread_for_download(
    harness: Harness, slack: SlackDriver
) -> None:
    harness.fake.receive(
        "plant-7",
        "Photo of the panel attached.",
        subject="Panel shows E42",
        sender_name="Dana",
        attachments=(AttachmentIn("panel.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 not really"),),
    )
    harness.settle()
    number = harness.only_ticket_number()
    (line,) = [t for t in slack.thread(slack.card(number).ts) if "panel.jpg" in t]
    (url,) = re.findall(
        r"<(http[^|>]+/files/\d+/panel\.jpg)\|", json.loads(line)[-1]["elements"][0]["text"]
    )
    answer = harness.client.get(url[url.index("/t/") :])
    assert answer.status_code == 200 and answer.content == b"\xff\xd8\xff\xe0 not really"


def test_the_card_is_updated_in_place_on_every_change(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.press("UANA", "sb_assign_me", number, message_ts=card_ts)
    wait_for(lambda: harness.ticket(number)["assignee"] == "Ana", what="the assignment")
    harness.settle()
    card = slack.card(number)
    assert card.ts == card_ts
    assert "Ana" in json.dumps(card.blocks) and "assigned" in json.dumps(card.blocks)
    cards = [m for m in fake_slack.posted(QUEUE_CHANNEL) if not m.thread_ts]
    assert len(cards) == 1, "one card per ticket, updated with chat.update"
    assert fake_slack.calls_of("chat.update")


# The thread: replies, notes, Undo ---------------------------------------------------------


def test_a_thread_reply_by_an_agent_reaches_the_client_on_their_channel(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts = open_ticket(harness, slack)
    assert (
        slack.message(
            "UANA", "We are sending a technician &amp; parts.", thread_ts=card_ts
        ).status_code
        == 200
    )
    wait_for(
        lambda: any("will be sent to client by fake" in line for line in slack.thread(card_ts)),
        what="the confirmation",
    )
    harness.settle()
    replies = client_deliveries(harness)
    assert [r["kind"] for r in replies] == ["reply"]
    assert replies[0]["recipient"] == "plant-7"
    assert "We are sending a technician & parts." in str(replies[0]["text"])
    wait_for(
        lambda: any(
            "sent to client by fake" in line and "Undo" not in line
            for line in slack.thread(card_ts)
        ),
        what="the confirmation to show it was sent",
    )


@pytest.mark.parametrize(
    "text",
    [
        "note: check the E42 history",
        "INTERNAL: customer is on a trial",
        "  Private:  do not quote",
        "*note:* bold prefix",
    ],
)
def test_a_note_in_the_thread_never_reaches_the_client_and_is_marked(
    harness: Harness, slack: SlackDriver, text: str
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.message("UANA", text, thread_ts=card_ts)
    wait_for(
        lambda: any(m["kind"] == "internal" for m in harness.ticket(number)["thread"]),
        what="the note",
    )
    harness.settle()
    assert client_deliveries(harness) == []
    assert any("Internal note" in line for line in slack.thread(card_ts))


@whole_system_examples(12)
@given(
    prefix=st.sampled_from(["note", "internal", "private"]).flatmap(
        lambda w: st.tuples(*[st.sampled_from([c.lower(), c.upper()]) for c in w]).map("".join)
    ),
    space=st.sampled_from(["", " ", "  ", "\n", "*", "_"]),
    body=st.text(st.characters(blacklist_categories=["Cs"]), max_size=60),
)
def test_no_kind_of_note_text_ever_becomes_a_client_delivery(
    harness: Harness, slack: SlackDriver, prefix: str, space: str, body: str
) -> None:
    """Property: whatever follows a note prefix, in any case, nothing goes to the client."""
    if not harness.tickets()["total"]:
        open_ticket(harness, slack)
    number = harness.only_ticket_number()
    card_ts = slack.card(number).ts
    text = f"{space}{prefix}:{body}"
    assert note_body(text) is not None
    slack.say_in_thread("UANA", card_ts, text, what="the note (or its refusal) to be recorded")
    assert client_deliveries(harness) == []
    assert not [
        m
        for m in harness.ticket(number)["thread"]
        if m["kind"] == "public" and m["direction"] == "out"
    ]


@given(text=st.text(max_size=80))
@hsettings(max_examples=300)
def test_only_messages_that_start_with_a_note_prefix_are_notes(text: str) -> None:
    stripped = text.lstrip().lstrip("*_~`>").lstrip().lower()
    starts = any(stripped.startswith(p) for p in ("note", "internal", "private"))
    if note_body(text) is not None:
        assert starts


def test_undo_stops_a_reply_before_it_leaves(harness: Harness, slack: SlackDriver) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.message("UANA", "Please restart the controller.", thread_ts=card_ts)
    message_id = wait_for(
        lambda: next(
            (
                m["id"]
                for m in harness.ticket(number)["thread"]
                if m["direction"] == "out" and m["kind"] == "public"
            ),
            None,
        ),
        what="the reply",
    )
    slack.press("UANA", "sb_undo", str(message_id), message_ts=card_ts)
    wait_for(
        lambda: any(d["status"] == "cancelled" for d in harness.ticket(number)["deliveries"]),
        what="the cancellation",
    )
    time.sleep(UNDO_SECONDS + 0.5)
    harness.settle()
    assert client_deliveries(harness) == []
    assert "delivery_cancelled" in [e["action"] for e in harness.ticket(number)["audit"]]
    wait_for(
        lambda: any("undone" in line for line in slack.thread(card_ts)),
        what="the thread to show the undo",
    )


def test_undo_after_the_reply_left_is_refused_in_an_ephemeral_message(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.message("UANA", "Fixed remotely.", thread_ts=card_ts)
    wait_for(
        lambda: any(
            d["kind"] == "reply" and d["status"] == "sent"
            for d in harness.ticket(number)["deliveries"]
        ),
        timeout=15,
        what="the reply to leave",
    )
    message_id = next(m["id"] for m in harness.ticket(number)["thread"] if m["direction"] == "out")
    slack.press("UANA", "sb_undo", str(message_id))
    wait_for(
        lambda: any("undo.too_late" in t for t in slack.ephemerals("UANA")), what="the refusal"
    )
    assert len(client_deliveries(harness)) == 1


# Buttons, modals and refusals ----------------------------------------------------------


def refused_press(
    harness: Harness, slack: SlackDriver, user: str, action: str
) -> tuple[str, str, str]:
    """A new ticket's card, ``user`` pressing ``action`` on it, and the refusal they see:
    the ticket's number, the card's ts and the refusal's text."""
    number, card_ts = open_ticket(harness, slack)
    slack.press(user, action, number, message_ts=card_ts)
    return number, card_ts, wait_for(lambda: slack.ephemerals(user), what="the refusal")[0]


def test_a_slack_user_who_is_not_an_agent_gets_an_ephemeral_refusal_naming_the_reason(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts, text = refused_press(harness, slack, "USTRANGER", "sb_ack")
    assert "not a Switchboard agent" in text and "slack.not_agent" in text
    assert harness.ticket(number)["status"] == "new"
    slack.message("USTRANGER", "I'll answer them myself", thread_ts=card_ts)
    wait_for(lambda: len(slack.ephemerals("USTRANGER")) == 2, what="the second refusal")
    harness.settle()
    assert client_deliveries(harness) == []


def test_a_refused_transition_is_an_ephemeral_naming_the_rule(
    harness: Harness, slack: SlackDriver
) -> None:
    number, _, text = refused_press(harness, slack, "UANA", "sb_resume")
    assert "lifecycle.state" in text and "new" in text


def test_hold_for_parts_asks_for_the_parts_reference_and_resolve_needs_code_and_steps(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.press("UANA", "sb_ack", number, message_ts=card_ts)
    wait_for(lambda: harness.ticket(number)["status"] == "acknowledged", what="acknowledgement")
    slack.press("UANA", "sb_hold", number, message_ts=card_ts)
    view = wait_for(lambda: fake_slack.views, what="the hold modal")[-1]
    assert view["callback_id"] == "sb_modal_hold"
    pending = {"type": "static_select", "selected_option": {"value": "pending_parts"}}
    response = slack.submit(
        "UANA", view, {"reason": pending, "parts_ref": "", "note": "", "override": ""}
    )
    assert response.json()["response_action"] == "errors"
    assert "parts" in response.json()["errors"]["parts_ref"]

    def until(when: datetime) -> dict[str, Any]:
        return {"type": "datetimepicker", "selected_date_time": int(when.timestamp())}

    yesterday = until(harness.ctx.now() - timedelta(days=1))
    response = slack.submit(
        "UANA",
        view,
        {"reason": pending, "parts_ref": "PO-4471", "note": "", "until": yesterday, "override": ""},
    )
    assert "future" in response.json()["errors"]["until"]
    monday = datetime(2031, 5, 5, 9, 0, tzinfo=UTC)
    response = slack.submit(
        "UANA",
        view,
        {
            "reason": pending,
            "parts_ref": "PO-4471",
            "note": "",
            "until": until(monday),
            "override": "",
        },
    )
    assert response.status_code == 200 and not response.content.strip(), response.text
    hold = harness.ticket(number)["hold"]
    assert (hold["parts_ref"], hold["until"]) == ("PO-4471", "2031-05-05T09:00:00+00:00")
    harness.settle()
    assert f"until <!date^{int(monday.timestamp())}" in json.dumps(slack.card(number).blocks)
    slack.press("UANA", "sb_resume", number)
    wait_for(lambda: harness.ticket(number)["status"] == "in_progress", what="resume")
    slack.press("UANA", "sb_resolve", number)
    view = wait_for(
        lambda: [v for v in fake_slack.views if v["callback_id"] == "sb_modal_resolve"],
        what="the resolve modal",
    )[-1]
    fixed = {"type": "static_select", "selected_option": {"value": "fixed"}}
    response = slack.submit("UANA", view, {"code": fixed, "steps": "", "override": ""})
    assert "steps" in response.json()["errors"]["steps"]
    response = slack.submit(
        "UANA", view, {"code": fixed, "steps": "Replaced the E42 sensor.", "override": ""}
    )
    assert response.status_code == 200
    assert harness.ticket(number)["status"] == "resolved"
    harness.settle()
    assert "resolved" in json.dumps(slack.card(number).blocks)


def test_lowering_a_rule_chosen_p1_needs_a_lead_and_a_written_reason(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.agent("Lee", "ULEE", ("lead",))
    number, card_ts = open_ticket(harness, slack)
    slack.press("UANA", "sb_priority", number)
    view = wait_for(lambda: fake_slack.views, what="the priority modal")[-1]
    p3 = {"type": "static_select", "selected_option": {"value": "P3"}}
    response = slack.submit(
        "UANA", view, {"priority": p3, "reason": "not really down", "override": ""}
    )
    assert "priority.rule_p1" in json.dumps(response.json())
    response = slack.submit(
        "ULEE", view, {"priority": p3, "reason": "not really down", "override": "short"}
    )
    assert "override.reason" in json.dumps(response.json())
    response = slack.submit(
        "ULEE",
        view,
        {
            "priority": p3,
            "reason": "not really down",
            "override": "The line runs; only one label printer is affected.",
        },
    )
    assert response.status_code == 200
    assert harness.ticket(number)["priority"] == "P3"
    assert harness.ticket(number)["overrides"][0]["agent"] == "Lee"


def test_copy_tracking_link_and_escalate_from_the_card(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.press("UANA", "sb_copy_link", number, message_ts=card_ts)
    assert "/t/" in wait_for(lambda: slack.ephemerals("UANA"), what="the link")[0]
    slack.press("UANA", "sb_escalate", number, message_ts=card_ts)
    wait_for(lambda: harness.ticket(number)["escalated"], what="escalation")
    harness.settle()
    assert "escalated" in json.dumps(slack.card(number).blocks)


# Platform rules ------------------------------------------------------------------------


def test_a_retried_event_is_ignored(harness: Harness, slack: SlackDriver) -> None:
    number, card_ts = open_ticket(harness, slack)
    first = slack.message("UANA", "One reply only, please.", thread_ts=card_ts, event_id="EvRETRY1")
    assert first.status_code == 200
    wait_for(
        lambda: any(m["direction"] == "out" for m in harness.ticket(number)["thread"]),
        what="the reply",
    )
    for retry in (1, 2):
        event = {
            "type": "message",
            "user": "UANA",
            "text": "One reply only, please.",
            "ts": "1800000000.999999",
            "channel": QUEUE_CHANNEL,
            "channel_type": "channel",
            "thread_ts": card_ts,
        }
        assert slack.event(event, event_id="EvRETRY1", retry=retry).status_code == 200
    time.sleep(0.5)
    harness.settle()
    assert len([m for m in harness.ticket(number)["thread"] if m["direction"] == "out"]) == 1
    assert len(client_deliveries(harness)) == 1


@pytest.mark.parametrize(
    ("event_id", "signing"),
    [
        pytest.param("EvFORGED", lambda: {"secret": "not-the-secret"}, id="forged signature"),
        pytest.param(
            "EvOLD", lambda: {"timestamp": int(time.time()) - 6 * 60}, id="old timestamp, signed"
        ),
    ],
)
def test_a_forged_signature_or_an_old_timestamp_is_refused(
    harness: Harness, slack: SlackDriver, event_id: str, signing: Callable[[], dict[str, Any]]
) -> None:
    message = {"type": "message", "user": "UANA", "text": "hi", "ts": "1.1"}
    response = slack.event({**message, "channel": QUEUE_CHANNEL}, event_id=event_id, **signing())
    assert response.status_code == 401
    assert stored_event(harness, event_id) is None


def test_a_rate_limited_card_waits_for_retry_after_and_is_posted_once(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("chat.postMessage", 429, retry_after=1)
    fake_slack.fail_next("chat.postMessage", 500, error="internal_error")
    number, _ = open_ticket(harness, slack)
    harness.settle()
    cards = [m for m in fake_slack.posted(QUEUE_CHANNEL) if not m.thread_ts]
    assert len(cards) == 1
    with harness.ctx.db.reading() as session:
        errors = [
            r.last_error
            for r in session.execute(
                select(OutboxDelivery).where(OutboxDelivery.kind == "slack_card")
            ).scalars()
        ]
    assert all(status is None for status in errors)
    audit = [e for e in harness.ticket(number)["audit"] if e["action"] == "delivery_retry"]
    assert any("retry after 1" in e["data"]["error"] for e in audit)


def test_a_card_waits_out_a_slack_outage_longer_than_its_attempts_and_is_posted_once(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    fake_slack.outage = 503  # Slack's front answers an error page for every call
    number = f"T-{harness.open_ticket(requester=('fake', 'plant-4', 'Dana')):06d}"
    limit = harness.settings.delivery_max_attempts

    def card_row() -> OutboxDelivery:
        with harness.ctx.db.reading() as session:
            return session.execute(
                select(OutboxDelivery).where(OutboxDelivery.kind == "slack_card")
            ).scalar_one()

    wait_for(lambda: card_row().attempts > limit, what="more failed attempts than the limit")
    assert card_row().status in ("pending", "sending"), "waiting for Slack, not parked"
    assert not [m for m in fake_slack.posted(QUEUE_CHANNEL) if not m.thread_ts]
    fake_slack.outage = 0  # Slack is back
    harness.settle(timeout=30)
    cards = [m for m in fake_slack.posted(QUEUE_CHANNEL) if not m.thread_ts]
    assert len(cards) == 1 and number in json.dumps(cards[0].blocks)
    assert card_row().status == "sent"


# /ticket and the App Home ------------------------------------------------------------


def test_the_ticket_command_looks_up_lists_and_opens(harness: Harness, slack: SlackDriver) -> None:
    number, _ = open_ticket(harness, slack)
    assert number in slack.command("UANA", number).json()["text"]
    assert number in slack.command("UANA", "dana").json()["text"]
    assert "none" in slack.command("UANA", "mine").json()["text"]
    opened = slack.command(
        "UANA", "open fake:plant-9 Label printer jams | It jams every 20 labels"
    ).json()["text"]
    assert "Opened T-000002" in opened
    harness.settle()
    slack.card("T-000002")
    assert "not a Switchboard agent" in slack.command("USTRANGER", "mine").json()["text"]


def test_the_app_home_lists_my_tickets(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.press("UANA", "sb_assign_me", number, message_ts=card_ts)
    wait_for(lambda: harness.ticket(number)["assignee"] == "Ana", what="the assignment")
    slack.event(
        {
            "type": "app_home_opened",
            "user": "UANA",
            "channel": "DANA",
            "tab": "home",
            "event_ts": "1800000000.1",
        }
    )
    wait_for(lambda: "UANA" in fake_slack.home, what="the home tab")
    assert number in json.dumps(fake_slack.home["UANA"])


# Slack as an intake channel ------------------------------------------------------------


def test_a_dm_from_a_non_agent_opens_a_ticket_and_the_answer_goes_back_in_the_same_thread(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.message(
        "UCLIENT", "The badge reader at gate 3 is dead", channel="DCLIENT", channel_type="im"
    )
    number = wait_for(
        lambda: harness.tickets()["total"] == 1 and harness.only_ticket_number(), what="the ticket"
    )
    harness.settle()
    first_ts = next(
        m
        for m in fake_slack.posted("DCLIENT")
        if "T-000001" in m.text or "T-000001" in json.dumps(m.blocks)
    ).thread_ts
    assert first_ts, "the acknowledgement is a reply in the client's own thread"
    card_ts = slack.card(number).ts
    slack.message("UANA", "A technician is on the way.", thread_ts=card_ts)
    wait_for(
        lambda: any(
            "technician" in json.dumps(m.blocks) for m in fake_slack.posted("DCLIENT", first_ts)
        ),
        timeout=15,
        what="the reply in the client's DM thread",
    )
    slack.message(
        "UCLIENT",
        "Thanks, still dead though",
        channel="DCLIENT",
        channel_type="im",
        thread_ts=first_ts,
    )
    wait_for(
        lambda: len([m for m in harness.ticket(number)["thread"] if m["direction"] == "in"]) == 2,
        what="the follow-up on the same ticket",
    )
    assert harness.tickets()["total"] == 1


def test_a_retry_after_an_unclear_failure_finds_the_posted_message_instead_of_posting_again(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    from slack_sdk import WebClient

    from channels.slack.blocks import marker
    from channels.slack.models import SlackPost
    from core.values import Outbound

    number, card_ts = open_ticket(harness, slack)
    # Given an earlier attempt that reached Slack but died before storing the ts
    with harness.ctx.db.transaction() as session:
        session.add(
            SlackPost(
                key="slack:event:test",
                channel=QUEUE_CHANNEL,
                thread_ts=card_ts,
                ts=None,
                created_at=harness.ctx.now(),
            )
        )
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    posted = client.chat_postMessage(
        channel=QUEUE_CHANNEL,
        thread_ts=card_ts,
        text="x",
        blocks=[
            {
                "type": "context",
                "block_id": marker("slack:event:test"),
                "elements": [{"type": "mrkdwn", "text": "x"}],
            }
        ],
    )
    # When the row is sent again
    ticket_id = int(number.split("-")[1])
    out = Outbound(
        key="slack:event:test",
        channel="slack",
        recipient="card",
        kind="slack_thread",
        extras={"ticket": ticket_id, "line": "event", "text": "x"},
    )
    result = harness.system.senders["slack"].send(out)
    # Then the message found in the thread is adopted, not posted twice
    assert result == f"thread:{QUEUE_CHANNEL}:{posted['ts']}"
    assert (
        len(
            [
                m
                for m in fake_slack.posted(QUEUE_CHANNEL, card_ts)
                if m.blocks and m.blocks[0].get("block_id") == marker("slack:event:test")
            ]
        )
        == 1
    )


def test_the_readme_and_the_manifest_describe_the_slack_app() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    for name in Settings.model_fields:
        if name.startswith("slack_"):
            assert f"SWITCHBOARD_{name.upper()}" in readme
    manifest = (root / "channels" / "slack" / "manifest.yml").read_text()
    for needed in (
        "/slack/events",
        "command: /ticket",
        "callback_id: sb_note",
        "app_home_opened",
        "message.im",
        "chat:write",
    ):
        assert needed in manifest


def test_slack_without_a_signing_secret_refuses_to_start_naming_the_variable(
    harness: Harness,
) -> None:
    from channels import slack as slack_channel
    from channels.web.app import create_app
    from core.errors import ConfigError

    bad = harness.settings.model_copy(update={"slack_signing_secret": ""})
    mount = slack_channel.CHANNEL.plug(harness.ctx, bad).mount
    assert mount is not None
    with pytest.raises(ConfigError, match="SWITCHBOARD_SLACK_SIGNING_SECRET"):
        mount(create_app(harness.ctx))
    bad = harness.settings.model_copy(update={"slack_socket_mode": True, "slack_app_token": ""})
    with pytest.raises(ConfigError, match="SWITCHBOARD_SLACK_APP_TOKEN"):
        slack_channel.CHANNEL.plug(harness.ctx, bad)


def test_the_internal_note_shortcut_opens_a_note_modal_whose_note_never_reaches_the_client(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number, card_ts = open_ticket(harness, slack)
    slack.interaction(
        {
            "type": "message_action",
            "callback_id": "sb_note",
            "team": {"id": "T0001"},
            "user": {"id": "UANA"},
            "trigger_id": "trig-note",
            "channel": {"id": QUEUE_CHANNEL},
            "message": {"type": "message", "ts": card_ts, "text": "card"},
            "message_ts": card_ts,
            "response_url": "http://127.0.0.1:9/none",
        }
    )
    view = wait_for(
        lambda: [v for v in fake_slack.views if v["callback_id"] == "sb_modal_note"],
        what="the note modal",
    )[-1]
    response = slack.submit(
        "UANA", view, {"text": "Customer is on the trial contract; check before sending parts."}
    )
    assert response.status_code == 200
    assert [m["text"] for m in harness.ticket(number)["thread"] if m["kind"] == "internal"] == [
        "Customer is on the trial contract; check before sending parts."
    ]
    harness.settle()
    assert client_deliveries(harness) == []
    wait_for(
        lambda: any(
            "Internal note" in line and "trial contract" in line for line in slack.thread(card_ts)
        ),
        what="the marked note in the thread",
    )


def test_a_ticket_opened_for_a_slack_client_answers_them_in_their_dm_never_in_the_card_thread(
    harness: Harness, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    # Given a card already posted for the ticket (so the ticket has staff-side Slack ids)
    assert (
        "Opened T-000001"
        in slack.command("UANA", "open slack:UCLIENT9 Badge reader dead | Gate 3").json()["text"]
    )
    harness.settle()
    card_ts = slack.card("T-000001").ts
    # When an agent replies in the card's thread
    slack.message("UANA", "On our way.", thread_ts=card_ts)
    wait_for(
        lambda: any("On our way" in json.dumps(m.blocks) for m in fake_slack.posted("UCLIENT9")),
        timeout=15,
        what="the reply in the client's DM",
    )
    # Then the client got it in their own conversation, and the card thread has only staff lines
    assert not [
        m
        for m in fake_slack.posted(QUEUE_CHANNEL, card_ts)
        if "sb:reply:" in json.dumps(m.blocks) or "sb:ack:" in json.dumps(m.blocks)
    ]


# The HTTP edge: stored before the answer, everything else through bolt -------------------


def test_an_event_and_a_button_press_are_stored_before_slack_gets_its_answer(
    harness: Harness, slack: SlackDriver
) -> None:
    number, card_ts = open_ticket(harness, slack)
    # When Slack gets its 200 for an event and for a press
    assert (
        slack.message(
            "UANA", "note: stored first", thread_ts=card_ts, event_id="EvSTORED1"
        ).status_code
        == 200
    )
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": "UANA"},
        "api_app_id": "A0001",
        "trigger_id": "trig-stored",
        "channel": {"id": QUEUE_CHANNEL},
        "container": {"type": "message", "channel_id": QUEUE_CHANNEL, "message_ts": card_ts},
        "actions": [
            {
                "type": "button",
                "action_id": "sb_copy_link",
                "block_id": "card_actions_0",
                "value": number,
                "action_ts": "1.1",
            }
        ],
    }
    response = slack.interaction(payload)
    assert response.status_code == 200 and not response.content
    # Then both rows are already committed
    assert stored_event(harness, "EvSTORED1") is not None
    assert stored_event(harness, "action:trig-stored") is not None
    # And a retry of the same press (same trigger id) does nothing twice
    assert slack.interaction(payload).status_code == 200
    wait_for(lambda: slack.ephemerals("UANA"), what="the tracking link")
    wait_for(lambda: event_done(harness, "action:trig-stored"), what="the press to be worked on")
    harness.settle()
    assert len(slack.ephemerals("UANA")) == 1


def test_a_forged_interaction_or_a_timestamp_that_is_not_a_number_is_refused(
    harness: Harness, slack: SlackDriver
) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "UANA"},
        "trigger_id": "trig-forged",
        "actions": [{"action_id": "sb_ack", "value": "T-000001"}],
    }
    assert slack.interaction(payload, secret="not-the-secret").status_code == 401
    body = json.dumps(
        {
            "type": "event_callback",
            "event_id": "EvNAN",
            "event": {
                "type": "message",
                "user": "UANA",
                "text": "hi",
                "ts": "1.1",
                "channel": QUEUE_CHANNEL,
            },
        }
    )
    response = slack.client.post(
        "/slack/events",
        content=body.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": "soon",
            "X-Slack-Signature": "v0=00",
        },
    )
    assert response.status_code == 401
    assert stored_event(harness, "action:trig-forged") is None
    assert stored_event(harness, "EvNAN") is None


def test_slacks_url_verification_and_certificate_check_are_answered(slack: SlackDriver) -> None:
    response = slack.post(
        json.dumps({"type": "url_verification", "token": "unused", "challenge": "c-123"}),
        "application/json",
    )
    assert response.status_code == 200 and "c-123" in response.text
    unsigned = slack.client.post(
        "/slack/events",
        content=b"ssl_check=1&token=unused",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 200


def test_stored_events_wait_until_this_process_has_answered_slack() -> None:
    from channels.slack.edge import Answering

    answering = Answering()
    answering.begin()
    assert answering.wait_until_answered(timeout=0.01) is False
    answering.end()
    assert answering.wait_until_answered(timeout=0.01) is True


def test_a_clients_slack_message_is_stored_once_as_the_record_the_rules_decide(
    harness: Harness, slack: SlackDriver
) -> None:
    slack.message(
        "UCLIENT",
        "The badge reader at gate 3 is dead",
        channel="DCLIENT",
        channel_type="im",
        event_id="EvDM1",
    )
    wait_for(lambda: event_done(harness, "EvDM1"), what="the message decided")
    with harness.ctx.db.reading() as session:
        records = list(
            session.execute(select(InboundRecord).where(InboundRecord.channel == "slack")).scalars()
        )
    assert [(r.external_id, r.outcome) for r in records] == [("EvDM1", "open")]
    assert records[0].ticket_id is not None


def test_a_staff_event_that_fails_is_parked_listed_and_retried(
    harness: Harness, slack: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels.slack import outbox as slack_outbox
    from core import parked

    real_home = slack_outbox.home

    def broken_home(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the App Home could not be built")

    monkeypatch.setattr(slack_outbox, "home", broken_home)
    # When Ana opens the App Home and building it fails
    slack.event({"type": "app_home_opened", "user": "UANA", "tab": "home"}, event_id="EvHOME1")
    wait_for(lambda: event_done(harness, "EvHOME1"), what="the event handled")
    record = stored_event(harness, "EvHOME1")
    assert record is not None and record.status == "parked"
    # Then it is listed with its reason, like any parked message
    with harness.ctx.db.reading() as session:
        listed = [p for p in parked.listing(session) if p["id"] == f"in-{record.id}"]
    assert len(listed) == 1 and "App Home could not be built" in (listed[0]["reason"] or "")
    # And once mended, a retry does what it asked
    monkeypatch.setattr(slack_outbox, "home", real_home)
    assert parked.retry(harness.ctx, f"in-{record.id}")["status"] == "done"
    again = stored_event(harness, "EvHOME1")
    assert again is not None and again.outcome == "event"
    assert again.reason == "home published"
