"""Clients message the bot on Telegram: webhook intake, files, commands, edits, replies.

Every Bot API call goes to a loopback fake that checks it against the Bot API spec;
every webhook request carries the secret token header as Telegram sends it, with
updates built from the spec's Update type.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from channels.telegram.sender import Pace, split
from config.settings import Settings
from core import staff
from core.models import Agent, Escalation
from core.principals import Principal, agent_principal, system
from core.tickets import conversation, lookup, workflow
from core.values import AttachmentIn, printable
from tests.faketelegram import TOKEN, FakeTelegram
from tests.harness import Harness, wait_until, whole_system_examples
from tests.telegram_support import SECRET, TelegramDriver, telegram_settings

CHAT = 4242


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, broker_url: str, fake_telegram: FakeTelegram
) -> Settings:
    return telegram_settings(tmp_path, database_url, broker_url, fake_telegram)


def thread(harness: Harness, number: int | str = 1) -> list[dict[str, Any]]:
    return harness.ticket(number)["thread"]


# Intake ----------------------------------------------------------------------------------


def test_a_text_message_opens_a_ticket_and_the_acknowledgement_arrives_in_the_chat(
    harness: Harness, telegram: TelegramDriver
) -> None:
    telegram.say(CHAT, "The gate at the north entrance will not open.")
    ticket = harness.ticket(1)
    assert ticket["subject"] == "The gate at the north entrance will not open."
    assert [m["text"] for m in ticket["thread"]] == [
        "The gate at the north entrance will not open."
    ]
    (ack,) = telegram.texts_to(CHAT)
    assert "T-000001" in ack and "https://support.example/t/" in ack
    assert not harness.sent(), "nothing went by another channel"


def test_a_request_without_the_right_secret_token_is_refused_and_nothing_is_stored(
    harness: Harness, telegram: TelegramDriver
) -> None:
    update = telegram.updates.message(CHAT, "Let me in.")
    assert telegram.post(update, secret=None).status_code == 401
    assert telegram.post(update, secret="test-webhook-secret_2").status_code == 401
    assert telegram.post(update, secret="").status_code == 401
    assert telegram.post(b"not json").status_code == 400
    assert "update_id" in telegram.post(b'{"message": {}}').json()["error"]["message"]
    assert telegram.records() == []
    assert harness.tickets()["total"] == 0


def test_the_same_update_twice_or_the_same_message_again_is_one_message(
    harness: Harness, telegram: TelegramDriver
) -> None:
    update = telegram.updates.message(CHAT, "Printer jammed.")
    first = telegram.post(update)
    again = telegram.post(update)
    # Telegram re-sends the message under another update id (a retry after a timeout)
    other = {**update, "update_id": update["update_id"] + 50}
    third = telegram.post(other)
    assert [r.status_code for r in (first, again, third)] == [200, 200, 200]
    assert [r.json()["duplicate"] for r in (first, again, third)] == [False, True, True]
    harness.settle()
    assert len(telegram.records()) == 1
    assert [m["text"] for m in thread(harness)] == ["Printer jammed."]


def test_messages_arriving_out_of_order_are_all_recorded_on_the_chat_ticket(
    harness: Harness, telegram: TelegramDriver
) -> None:
    later = telegram.updates.message(CHAT, "It shows error E42.", message_id=11)
    earlier = telegram.updates.message(CHAT, "Printer jammed.", message_id=10)
    telegram.send(later)
    telegram.send(earlier)
    telegram.send(later)
    assert harness.tickets()["total"] == 1
    assert sorted(m["text"] for m in thread(harness)) == ["It shows error E42.", "Printer jammed."]


def test_a_group_message_is_ignored_and_recorded_as_such(
    harness: Harness, telegram: TelegramDriver
) -> None:
    telegram.say(-100123, "Anyone know the wifi password?", chat_type="supergroup")
    assert harness.tickets()["total"] == 0
    (record,) = telegram.records()
    assert record.outcome == "event" and "supergroup" in (record.reason or "")
    assert telegram.fake.sent == []


# Files, places, contacts ----------------------------------------------------------------


def test_photos_documents_voice_audio_video_and_video_notes_are_attached(
    harness: Harness, telegram: TelegramDriver
) -> None:
    u = telegram.updates
    photo = u.photo()
    largest = photo[-1]["file_id"]
    for size in photo:
        telegram.fake.files[size["file_id"]] = f"jpeg {size['file_id']}".encode()
    kinds = {
        "document": {**u.file(), "file_name": "report.pdf", "mime_type": "application/pdf"},
        "voice": {**u.file(), "duration": 3, "mime_type": "audio/ogg"},
        "audio": {**u.file(), "duration": 60, "file_name": "call.mp3"},
        "video": {**u.file(), "width": 640, "height": 480, "duration": 5},
        "video_note": {**u.file(), "length": 240, "duration": 5},
    }
    for item in kinds.values():
        telegram.fake.files[item["file_id"]] = f"bytes of {item['file_id']}".encode()
    telegram.say(CHAT, "The screen shows this.", photo=photo)
    for name, item in kinds.items():
        telegram.say(CHAT, None, **{name: item})
    messages = thread(harness)
    assert messages[0]["text"] == "The screen shows this."
    (picture,) = messages[0]["attachments"]
    assert picture["size"] == len(f"jpeg {largest}".encode()), "the largest size of the photo"
    names = [a["filename"] for m in messages[1:] for a in m["attachments"]]
    assert names[0] == "report.pdf" and names[2] == "call.mp3"
    assert names[1].endswith(".ogg") and names[3].endswith(".mp4") and names[4].endswith(".mp4")
    assert [c.params["file_id"] for c in telegram.fake.calls_of("getFile")][0] == largest


def test_a_file_over_20_mb_is_not_fetched_the_client_is_told_and_the_message_recorded(
    harness: Harness, telegram: TelegramDriver
) -> None:
    big = {**telegram.updates.file(size=25 * 1024 * 1024), "file_name": "capture.mov"}
    telegram.say(CHAT, "Here is the video of the fault.", document=big)
    (message,) = thread(harness)
    assert message["attachments"] == []
    assert "capture.mov" in message["text"] and "20 MB" in message["text"]
    assert telegram.fake.calls_of("getFile") == [], "Telegram would refuse it: not asked"
    told = [t for t in telegram.texts_to(CHAT) if "20 MB" in t]
    assert len(told) == 1 and "capture.mov" in told[0] and "recorded" in told[0]


def test_a_location_or_a_venue_becomes_the_ticket_location(
    harness: Harness, telegram: TelegramDriver
) -> None:
    telegram.say(CHAT, None, location={"latitude": 48.8584, "longitude": 2.2945})
    ticket = harness.ticket(1)
    assert ticket["links"]["location"].startswith("48.8584, 2.2945")
    assert "openstreetmap.org" in thread(harness)[0]["text"]
    venue = {
        "location": {"latitude": 51.5007, "longitude": -0.1246},
        "title": "Plant 7",
        "address": "1 Works Road",
    }
    telegram.say(CHAT, None, venue=venue, location=venue["location"])
    assert harness.ticket(1)["links"]["location"].startswith("Plant 7, 1 Works Road")


def test_a_shared_contact_is_stored_as_a_vcard_and_named_in_the_message(
    harness: Harness, telegram: TelegramDriver
) -> None:
    contact = {"phone_number": "+33612345678", "first_name": "Marc", "last_name": "Dubois"}
    telegram.say(CHAT, None, contact=contact)
    (message,) = thread(harness)
    assert "Marc Dubois, +33612345678" in message["text"]
    (card,) = message["attachments"]
    assert card["filename"] == "Marc Dubois.vcf"


def test_an_edited_message_changes_the_stored_one_and_the_audit_keeps_the_old_text(
    harness: Harness, telegram: TelegramDriver
) -> None:
    original = telegram.say(CHAT, "The printer on floor 3 is jammed.")
    mid = original["message"]["message_id"]
    telegram.say(CHAT, "The printer on floor 2 is jammed.", message_id=mid, edit_date=1_900_000_000)
    assert [m["text"] for m in thread(harness)] == ["The printer on floor 2 is jammed."]
    events = [e for e in harness.ticket(1)["audit"] if e["action"] == "client_message_edited"]
    assert len(events) == 1
    assert events[0]["data"]["before"] == "The printer on floor 3 is jammed."


def test_an_edit_that_arrives_before_its_message_is_the_message_once(
    harness: Harness, telegram: TelegramDriver
) -> None:
    original = telegram.updates.message(CHAT, "Badge reader offline.", message_id=77)
    edited = telegram.updates.message(
        CHAT, "Badge reader offline since 8:00.", message_id=77, edit_date=1_900_000_000
    )
    telegram.send(edited)
    telegram.send(original)
    assert [m["text"] for m in thread(harness)] == ["Badge reader offline since 8:00."]


# Commands --------------------------------------------------------------------------------


def test_start_and_help_say_what_happens_next_and_open_no_ticket(
    harness: Harness, telegram: TelegramDriver
) -> None:
    telegram.say(CHAT, "/start")
    telegram.say(CHAT, "/help")
    greeting, helptext = telegram.texts_to(CHAT)
    assert greeting.startswith("Hello Lia!") and "open a ticket" in greeting and "/new" in greeting
    assert "/status" in helptext
    assert harness.tickets()["total"] == 0


def test_new_starts_another_ticket_and_status_lists_them_with_tracking_links(
    harness: Harness, telegram: TelegramDriver
) -> None:
    telegram.say(CHAT, "The gate will not open.")
    telegram.say(CHAT, "/new")
    assert harness.tickets()["total"] == 1, "/new alone only explains itself"
    assert "/new The printer" in telegram.texts_to(CHAT)[-1]
    telegram.say(CHAT, "/new The badge printer is out of ribbon.")
    telegram.say(CHAT, "Black ribbon, model X.")
    assert harness.tickets()["total"] == 2
    assert [m["text"] for m in thread(harness, 2)] == [
        "The badge printer is out of ribbon.",
        "Black ribbon, model X.",
    ]
    telegram.say(CHAT, "/status")
    status = telegram.texts_to(CHAT)[-1]
    assert status.index("T-000002") < status.index("T-000001")
    assert status.count("https://support.example/t/") == 2 and "new" in status


# Replies ---------------------------------------------------------------------------------


@pytest.fixture
def ana(harness: Harness) -> Principal:
    return harness.agent("Ana")[0]


def reply_as(harness: Harness, who: Principal, text: str, *files: AttachmentIn) -> None:
    with harness.ctx.db.transaction() as session:
        ticket = lookup.get_ticket(session, 1, lock=True)
        conversation.reply(harness.ctx, session, who, ticket, text=text, attachments=files)
    harness.settle()


def test_an_agent_reply_arrives_in_the_chat_and_not_by_email(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    telegram.say(CHAT, "The gate will not open.")
    reply_as(harness, ana, "We are sending a technician <b>now</b> & will call you.")
    reply = telegram.texts_to(CHAT)[-1]
    assert reply.startswith("We are sending a technician <b>now</b> & will call you.")
    (call,) = [c for c in telegram.fake.calls_of("sendMessage") if "technician" in c.params["text"]]
    assert "parse_mode" not in call.params, "plain text: nothing in it is read as markup"
    assert not harness.sent() and not list((harness.settings.maildir_path).rglob("*.eml"))
    (row,) = telegram.deliveries(kind="reply")
    assert row.channel == "telegram" and row.status == "sent" and row.recipient == str(CHAT)


def test_a_long_reply_is_split_at_paragraph_boundaries(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    telegram.say(CHAT, "What happened?")
    paragraphs = [f"Paragraph {n}: " + "word " * 300 for n in range(5)]
    # Flood control stops the second part: the retry sends the rest, nothing twice
    telegram.fake.fail_next("sendMessage", 429, retry_after=1, after=1)
    reply_as(harness, ana, "\n\n".join(paragraphs))
    wait_until(lambda: telegram.deliveries(kind="reply")[0].status == "sent", what="the reply")
    parts = telegram.texts_to(CHAT)[1:]
    assert len(parts) == len(set(parts)), "no part twice"
    assert telegram.deliveries(kind="reply")[0].attempts == 2
    assert len(parts) >= 2 and all(len(p) <= 4096 for p in parts)
    assert all(p.startswith("Paragraph ") for p in parts), "each part starts a paragraph"
    assert " ".join(" ".join(p.split()) for p in parts).startswith(" ".join(paragraphs[0].split()))


def test_an_agent_file_is_uploaded_as_a_photo_or_a_document(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    telegram.say(CHAT, "Which fuse?")
    picture = AttachmentIn("fuse.png", "image/png", b"\x89PNG fuse")
    manual = AttachmentIn("manual.pdf", "application/pdf", b"%PDF manual")
    reply_as(harness, ana, "This one, see the manual.", picture, manual)
    sent = telegram.fake.to_chat(CHAT)
    photo = [s for s in sent if s.method == "sendPhoto"]
    document = [s for s in sent if s.method == "sendDocument"]
    assert [(p.filename, p.data) for p in photo] == [("fuse.png", b"\x89PNG fuse")]
    assert [(d.filename, d.data) for d in document] == [("manual.pdf", b"%PDF manual")]


def test_flood_control_is_honoured_and_the_reply_arrives_once_after_it(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    telegram.say(CHAT, "Hello?")
    telegram.fake.fail_next("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    reply_as(harness, ana, "Yes, we are here.")
    wait_until(lambda: any("we are here" in t for t in telegram.texts_to(CHAT)), what="the reply")
    assert time.monotonic() - started >= 0.9, "waited the retry_after Telegram asked for"
    assert sum("we are here" in t for t in telegram.texts_to(CHAT)) == 1
    (row,) = telegram.deliveries(kind="reply")
    assert row.status == "sent" and row.attempts == 2


def test_a_bot_blocked_by_the_user_is_a_permanent_failure_shown_on_the_delivery(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    telegram.say(CHAT, "Hello?")
    telegram.fake.blocked.add(str(CHAT))
    reply_as(harness, ana, "Here is the answer.")
    (row,) = telegram.deliveries(kind="reply")
    assert row.status == "failed" and row.attempts == 1
    assert "bot was blocked by the user" in (row.last_error or "")
    shown = [d for d in harness.ticket(1)["deliveries"] if d["kind"] == "reply"]
    assert shown and "blocked" in str(shown[0])


@whole_system_examples(8)
@given(
    text=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80).filter(
        lambda t: printable(t).strip()  # a blank note (control characters are taken out)
    )  # is refused before it exists
)
@example(text="The gate\x00 sticks")  # PostgreSQL refuses NUL in text
def test_an_internal_note_never_reaches_the_chat(
    harness: Harness, telegram: TelegramDriver, text: str
) -> None:
    """Property: whatever an internal note says, nothing of it goes to Telegram."""
    if not harness.tickets()["total"]:
        telegram.say(CHAT, "The gate will not open.")
        harness.agent("Nina")
    before = len(telegram.fake.sent)
    with harness.ctx.db.transaction() as session:
        agent = session.execute(select(Agent)).scalars().first()
        assert agent is not None
        ticket = lookup.get_ticket(session, 1, lock=True)
        conversation.note(harness.ctx, session, agent_principal(agent), ticket, text=text)
    harness.settle()
    assert len(telegram.fake.sent) == before
    assert not [d for d in telegram.deliveries(channel="telegram") if d.kind not in ("ack",)]


# Staff: linking, escalation pings --------------------------------------------------------

BEN_USER = 9001


def link_ben(harness: Harness, telegram: TelegramDriver) -> None:
    """Ben asks for a code with his API token and sends it to the bot from Telegram."""
    _, token = harness.agent("Ben")
    answer = harness.client.post(
        "/telegram/link-code", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404, "the route is the channel's, mounted on the channel's app"
    answer = telegram.client.post(
        "/telegram/link-code", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    code = answer.json()["code"]
    telegram.say(BEN_USER, f"/link {code}", first_name="Ben")
    assert telegram.texts_to(BEN_USER)[-1].startswith("Linked: you are Ben")
    telegram.say(BEN_USER, f"/link {code}", first_name="Ben")
    assert "not valid" in telegram.texts_to(BEN_USER)[-1], "a code works once"


def test_an_agent_links_telegram_with_a_one_time_code_and_acknowledges_a_ping_there(
    harness: Harness, telegram: TelegramDriver
) -> None:
    link_ben(harness, telegram)
    with harness.ctx.db.transaction() as session:
        ben = session.execute(select(Agent).where(Agent.name == "Ben")).scalar_one()
        assert staff.agent_at(session, "telegram", str(BEN_USER)) is not None
        ben.preferences = {"channels": ["telegram"]}
    ticket = harness.open_ticket(subject="Line 2 is down", priority="P1")
    with harness.ctx.db.transaction() as session:
        workflow.escalate(
            harness.ctx,
            session,
            system(),
            lookup.get_ticket(session, ticket, lock=True),
            reason="down",
        )
    wait_until(
        lambda: [s for s in telegram.fake.to_chat(BEN_USER) if s.reply_markup], what="the ping"
    )
    (ping,) = [s for s in telegram.fake.to_chat(BEN_USER) if s.reply_markup]
    assert "T-000001" in ping.text
    (button,) = ping.reply_markup["inline_keyboard"][0]  # type: ignore[index]
    assert button["text"] == "Acknowledge" and button["callback_data"] == "ack:T-000001"
    # Someone who is not a linked agent presses it (a forwarded message): nothing happens
    stranger = telegram.post(telegram.updates.callback(5555, button["callback_data"]))
    assert stranger.json()["method"] == "answerCallbackQuery", "answered at once"
    harness.settle()
    assert escalation_status(harness, ticket) == "active"
    # Ben presses it: the press is answered in the webhook's own response, the chain stops
    pressed = telegram.post(telegram.updates.callback(BEN_USER, button["callback_data"]))
    assert pressed.status_code == 200
    assert pressed.json()["method"] == "answerCallbackQuery"
    assert pressed.json()["callback_query_id"].startswith("cq")
    harness.settle()
    assert escalation_status(harness, ticket) == "acknowledged"
    audit = [e for e in harness.ticket(ticket)["audit"] if e["action"] == "escalation_acknowledged"]
    assert len(audit) == 1 and "Ben" in audit[0]["actor"]
    assert audit[0]["data"]["took"] == ["acknowledged", "assigned"]
    shown = harness.ticket(ticket)
    assert shown["status"] == "assigned" and shown["assignee"] == "Ben"
    assert "escalation is stopped" in telegram.texts_to(BEN_USER)[-1]
    # The ping itself now says who acknowledged it, and its button is gone
    assert ping.text.endswith("Acknowledged by Ben: the escalation is stopped.")
    assert ping.reply_markup is None and "T-000001" in ping.text


def escalation_status(harness: Harness, ticket_id: int) -> str:
    with harness.ctx.db.reading() as session:
        return str(
            session.execute(
                select(Escalation.status).where(Escalation.ticket_id == ticket_id)
            ).scalar_one()
        )


# Modes: webhook registration, long polling -----------------------------------------------


def test_the_web_role_registers_the_webhook_with_its_secret(
    harness: Harness, telegram: TelegramDriver
) -> None:
    harness.system.start_services("web")
    wait_until(lambda: telegram.fake.calls_of("setWebhook"), what="setWebhook")
    (call,) = telegram.fake.calls_of("setWebhook")
    assert call.params["url"] == "https://support.example/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert json.loads(call.params["allowed_updates"]) == [
        "message",
        "edited_message",
        "callback_query",
    ]


def test_long_polling_keeps_its_offset_so_a_restart_neither_misses_nor_repeats(
    harness: Harness, telegram: TelegramDriver
) -> None:
    from channels.telegram.api import BotApi
    from channels.telegram.polling import Poller

    def poller() -> Poller:
        api = BotApi(TOKEN, telegram.fake.url)
        return Poller(harness.ctx, api, timeout=0)

    u = telegram.updates
    first = [u.message(CHAT, "One."), u.message(CHAT, "Two.")]
    telegram.fake.queue_updates(*first)
    assert poller().poll_once() == 2
    # A process that died before Telegram saw the next offset gets the same updates again
    telegram.fake.confirmed = 0
    telegram.fake.pending = first + telegram.fake.pending
    telegram.fake.queue_updates(u.message(CHAT, "Three."))
    restarted = poller()
    assert restarted.offset() == first[-1]["update_id"] + 1, "the offset is in the database"
    restarted.poll_once()
    (call,) = telegram.fake.calls_of("getUpdates")[-1:]
    assert int(call.params["offset"]) == first[-1]["update_id"] + 1
    harness.settle()
    assert [m["text"] for m in thread(harness)] == ["One.", "Two.", "Three."]
    assert len(telegram.records()) == 3
    assert restarted.poll_once() == 0, "nothing repeats"


def test_a_button_press_fetched_by_polling_is_answered_at_once(
    harness: Harness, telegram: TelegramDriver
) -> None:
    from channels.telegram.api import BotApi
    from channels.telegram.polling import Poller

    telegram.fake.queue_updates(telegram.updates.callback(BEN_USER, "ack:T-000009"))
    Poller(harness.ctx, BotApi(TOKEN, telegram.fake.url), 0).poll_once()
    (answer,) = telegram.fake.calls_of("answerCallbackQuery")
    assert answer.params["callback_query_id"].startswith("cq")
    harness.settle()
    (record,) = telegram.records()
    assert record.outcome == "event" and "not a linked agent" in (record.reason or "")


# Pure parts: splitting and pacing -------------------------------------------------------


@given(
    text=st.lists(
        st.text(st.characters(blacklist_categories=["Cs"]), max_size=3000), max_size=6
    ).map("\n\n".join)
)
@hsettings(max_examples=200, deadline=None)
def test_split_parts_fit_telegram_and_lose_no_word(text: str) -> None:
    parts = split(text)
    assert all(1 <= len(p) <= 4096 for p in parts) or parts == [""]
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_split_cuts_at_the_last_paragraph_break_that_fits() -> None:
    first, second = "a" * 3000, "b" * 3000
    assert split(f"{first}\n\n{second}") == [first, second]
    assert split("x" * 5000) == ["x" * 4096, "x" * 904]


def test_pace_spaces_sends_to_one_chat_and_in_all() -> None:
    pace = Pace(chat_rate=1.0, global_rate=10.0)
    assert pace.reserve("a") == 0
    assert 0.95 <= pace.reserve("a") <= 1.0, "one chat: a second apart"
    assert 0.05 <= pace.reserve("b") <= 0.3, "another chat waits only for the global rate"


def test_webhook_mode_without_an_https_public_url_stops_the_process_naming_both_settings(
    tmp_path: Path, database_url: str, fake_telegram: FakeTelegram
) -> None:
    from config.runtime import System
    from core.errors import ConfigError

    settings = telegram_settings(
        tmp_path, database_url, "memory://", fake_telegram, public_url="http://127.0.0.1:8000"
    )
    with pytest.raises(ConfigError, match="SWITCHBOARD_PUBLIC_URL is not https"):
        System(settings)


def test_the_satisfaction_question_comes_with_buttons_and_a_press_is_the_answer(
    harness: Harness, telegram: TelegramDriver, ana: Principal
) -> None:
    from core.models import SatisfactionAnswer

    telegram.say(CHAT, "The gate will not open.")
    harness.resolve(1, ana, "New fuse.")
    harness.settle()
    (question,) = [s for s in telegram.fake.to_chat(CHAT) if s.reply_markup]
    rows = question.reply_markup["inline_keyboard"]  # type: ignore[index]
    titles = [row[0]["text"] for row in rows]
    assert titles[:2] == ["Yes, it is fixed", "Not fixed"] and len(titles) == 7
    pressed = telegram.post(telegram.updates.callback(CHAT, rows[0][0]["callback_data"]))
    assert pressed.json()["method"] == "answerCallbackQuery"
    harness.settle()
    with harness.ctx.db.reading() as session:
        (answer,) = session.execute(select(SatisfactionAnswer)).scalars()
        assert answer.fixed is True and answer.channel == "telegram"
    assert telegram.texts_to(CHAT)[-1] == "Thank you: your answer is recorded."
