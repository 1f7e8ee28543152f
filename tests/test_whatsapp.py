"""The WhatsApp channel end to end: Meta's signed webhooks in, the Graph API (a loopback
fake checked against Meta's spec) out, through the real web app and workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from channels.whatsapp.models import WhatsAppChat
from config.settings import Settings
from core.tickets import conversation, lookup
from tests.fakewhatsapp import FakeWhatsApp
from tests.harness import Harness, wait_until, whole_system_examples
from tests.whatsapp_support import (
    CLIENT,
    CLIENT_NAME,
    VERIFY_TOKEN,
    WhatsAppDriver,
    message,
    status,
    webhook,
    whatsapp_settings,
)


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, broker_url: str, fake_whatsapp: FakeWhatsApp
) -> Iterator[Settings]:
    yield whatsapp_settings(tmp_path, database_url, broker_url, fake_whatsapp)


def thread(harness: Harness, number: int = 1) -> list[dict]:
    return harness.ticket(number)["thread"]


def texts(harness: Harness, number: int = 1) -> list[str]:
    return [m["text"] for m in thread(harness, number) if m["direction"] == "in"]


def reply(harness: Harness, text: str, number: int = 1) -> None:
    agent, _ = harness.agent(f"Ana {len(harness.tickets()['tickets'])}-{text[:8]}")
    with harness.ctx.db.transaction() as s:
        ticket = lookup.get_ticket(s, number, lock=True)
        conversation.reply(harness.ctx, s, agent, ticket, text=text)


def close_window(harness: Harness, number: str = CLIENT, hours: float = 25) -> None:
    """The client last wrote ``hours`` ago."""
    with harness.ctx.db.transaction() as s:
        s.execute(
            update(WhatsAppChat)
            .where(WhatsAppChat.number == number)
            .values(last_client_at=harness.ctx.now() - timedelta(hours=hours))
        )


# The webhook ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_verification_handshake_answers_the_challenge_only_for_our_verify_token(
    wa: WhatsAppDriver,
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    answer = wa.client.get("/whatsapp/webhook", params=query)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}):
        answer = wa.client.get("/whatsapp/webhook", params={**query, **wrong})
        assert answer.status_code == 403
        assert "1158201444" not in answer.text


def test_a_forged_or_unsigned_webhook_is_refused_and_nothing_is_stored(
    harness: Harness, wa: WhatsAppDriver
) -> None:
    body = webhook([message("text")])
    assert wa.post(body, secret="not-the-app-secret").status_code == 401
    raw = b'{"object": "whatsapp_business_account", "entry": []}'
    assert wa.client.post("/whatsapp/webhook", content=raw).status_code == 401
    assert wa.records() == []
    assert harness.tickets()["total"] == 0


def test_a_text_opens_a_ticket_in_the_clients_name_and_is_acknowledged_on_whatsapp(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    answer = wa.send(message("text"))
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    harness.settle()
    ticket = harness.ticket(1)
    assert texts(harness) == ["Does it come in another color?"]
    assert ticket["client"]["name"] == CLIENT_NAME
    assert (ticket["client"]["channel"], ticket["client"]["address"]) == ("whatsapp", CLIENT)
    ack = wait_until(lambda: fake_whatsapp.messages(CLIENT), what="the acknowledgement")
    assert ack[0].type == "text"
    assert ticket["number"] in ack[0].text


def test_the_same_wamid_twice_does_nothing_twice_whichever_body_carries_it(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    first, second = message("text"), message("text", text={"body": "It is blue now."})
    wa.send(first)
    answer = wa.send(first, second)  # Meta re-sends the first one with a new one
    assert answer.json() == {"stored": 1, "duplicates": 1, "ignored": 0}
    wa.send(second)
    harness.settle()
    assert [r.external_id for r in wa.records()] == [first["id"], second["id"]]
    assert texts(harness) == ["Does it come in another color?", "It is blue now."]
    assert harness.tickets()["total"] == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_webhook_larger_than_the_limit_is_refused_before_it_is_read(
    harness: Harness, wa: WhatsAppDriver
) -> None:
    huge = message("text", text={"body": "x" * (harness.settings.whatsapp_max_bytes + 1)})
    answer = wa.post(webhook([huge]))
    assert answer.status_code == 413
    assert wa.records() == []


def test_a_webhook_for_another_phone_number_id_is_not_stored(
    harness: Harness, wa: WhatsAppDriver
) -> None:
    answer = wa.post(webhook([message("text")], phone_number_id="999999999"))
    assert answer.status_code == 200
    assert answer.json()["ignored"] == 1
    assert wa.records() == []


def test_every_kind_of_message_reaches_the_ticket_and_reactions_are_noted(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    fake_whatsapp.add_media("1003383421387256", b"\xff\xd8jpeg", "image/jpeg")
    fake_whatsapp.add_media("doc-1", b"%PDF-1.7", "application/pdf")
    fake_whatsapp.add_media("voice-1", b"OggS", "audio/ogg")
    fake_whatsapp.add_media("video-1", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    fake_whatsapp.add_media("sticker-1", b"RIFFWEBP", "image/webp")
    opening = message("text")
    wa.send(opening)
    harness.settle()
    kinds = [
        message("image"),
        message("document", media_id="doc-1"),
        message("audio", media_id="voice-1"),
        message("video", media_id="video-1"),
        message("sticker", media_id="sticker-1"),
        message("location"),
        message("contacts"),
        message("button_reply"),
        message("list_reply"),
        message("button"),
        message("unsupported"),
        message("document", media_id="gone-1"),  # the media id WhatsApp no longer knows
        message("reaction", reaction={"message_id": opening["id"], "emoji": "👍"}),
    ]
    wa.send(*kinds)
    harness.settle()
    assert harness.tickets()["total"] == 1, "every message continues the number's ticket"
    entries = thread(harness)
    inbound = [m for m in entries if m["direction"] == "in"]
    assert [m["text"] for m in inbound] == [
        "Does it come in another color?",
        "Taj Mahal",
        "[document: invoice.pdf]",
        f"[audio: audio-{'voice-1'}.ogg]",
        "The gate",
        "[sticker: sticker-sticker-1.webp]",
        "[Location: Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301 (37.44221496582, "
        "-122.16165924072)]\nhttps://maps.google.com/?q=37.44221496582,-122.16165924072\n"
        "https://philzcoffee.com/",
        "[Shared contact: Lucía Gómez: +1 (983) 555-2319; Google]",
        "Cancel",
        "Priority Mail Express",
        "Unsubscribe",
        "[The client sent a message WhatsApp does not pass on (unsupported): 131051 "
        "Message type unknown (Message type is currently not supported.)]",
        "[document invoice.pdf could not be fetched: WhatsApp error 100: (#100) Unsupported "
        "get request. Object does not exist (Unsupported get request. Object does not exist)]",
    ]
    files = [(a["filename"], a["size"]) for m in inbound for a in m["attachments"]]
    assert files == [
        ("image-1003383421387256.jpg", 6),
        ("invoice.pdf", 8),
        ("audio-voice-1.ogg", 4),
        ("video-video-1.mp4", 12),
        ("sticker-sticker-1.webp", 8),
    ]
    notes = [m["text"] for m in entries if m["kind"] == "internal"]
    assert notes == ["The client reacted 👍 to a message on WhatsApp."]
    reaction = wa.records()[-1]
    assert reaction.outcome == "event" and "noted on" in (reaction.reason or "")


# Replies and statuses ---------------------------------------------------------------------


def opened(harness: Harness, wa: WhatsAppDriver, fake: FakeWhatsApp) -> None:
    """A client wrote; the acknowledgement went."""
    wa.send(message("text"))
    harness.settle()
    wait_until(lambda: fake.messages(CLIENT), what="the acknowledgement")


def agent_reply(
    harness: Harness, fake: FakeWhatsApp, text: str, number: int = 1
) -> tuple[str, int]:
    """An agent's reply, delivered: (its wamid, its outbox row id)."""
    before = len(fake.messages())
    reply(harness, text, number)
    harness.settle()
    sent = wait_until(lambda: fake.messages()[before:], what="the reply on WhatsApp")
    with harness.ctx.db.reading() as s:
        from core.models import OutboxDelivery

        row = (
            s.execute(
                select(OutboxDelivery)
                .where(OutboxDelivery.kind == "reply")
                .order_by(OutboxDelivery.id)
            )
            .scalars()
            .all()[-1]
        )
        return sent[-1].wamid, row.id


def delivery(harness: Harness, row_id: int) -> dict:
    return next(d for d in harness.ticket(1)["deliveries"] if d["id"] == row_id)


def test_a_reply_inside_the_window_goes_free_form_and_statuses_update_its_delivery_in_any_order(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    wamid, row_id = agent_reply(harness, fake_whatsapp, "Yes: blue, red and green.")
    assert fake_whatsapp.messages()[-1].text.startswith("Yes: blue, red and green.")
    # read overtakes delivered; the same status twice is one record
    wa.send(statuses=[status(wamid, "sent"), status(wamid, "read")])
    wa.send(statuses=[status(wamid, "delivered"), status(wamid, "read")])
    harness.settle()
    shown = delivery(harness, row_id)
    assert shown["status"] == "sent"
    assert shown["report"]["status"] == "read"
    assert [h["status"] for h in shown["report"]["history"]] == ["sent", "read", "delivered"]


def test_a_failed_status_marks_the_delivery_bounced_with_whatsapps_code_and_title(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    wamid, row_id = agent_reply(harness, fake_whatsapp, "Here is the manual.")
    failure = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "Receiver is incapable of receiving this message"},
    }
    wa.send(statuses=[status(wamid, "failed", errors=[failure]), status(wamid, "delivered")])
    harness.settle()
    shown = delivery(harness, row_id)
    assert shown["status"] == "bounced"
    assert shown["last_error"] == (
        "WhatsApp error 131026: Message undeliverable "
        "(Receiver is incapable of receiving this message)"
    )
    assert shown["report"]["status"] == "failed", "a later status does not undo the failure"


def test_a_status_that_overtakes_the_recording_of_its_send_still_finds_the_delivery(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    """WhatsApp's failed status is stored and decided before the worker records the send."""
    opened(harness, wa, fake_whatsapp)
    from channels.whatsapp.sender import WhatsAppSender

    sender = harness.system.senders["whatsapp"]
    assert isinstance(sender, WhatsAppSender)
    failure = {"code": 131049, "title": "Not delivered to maintain healthy ecosystem engagement"}
    real_once = sender._once

    def once_then_webhook(
        key: str, kind: str, body: dict[str, Any] | Callable[[], dict[str, Any]]
    ) -> str:
        wamid = real_once(key, kind, body)
        if kind == "text" and isinstance(body, dict) and "bounced soon" in body["text"]["body"]:
            wa.send(statuses=[status(wamid, "failed", errors=[failure])])
            wait_until(
                lambda: any(
                    r.status != "pending" for r in wa.records() if "failed" in r.external_id
                ),
                what="the status decided",
            )
        return wamid

    sender._once = once_then_webhook  # type: ignore[method-assign]
    try:
        wamid, row_id = agent_reply(harness, fake_whatsapp, "This will be bounced soon.")
    finally:
        sender._once = real_once  # type: ignore[method-assign]
    # the row is bounced already, so settle() does not wait for the send's recording
    shown = wait_until(
        lambda: (d := delivery(harness, row_id))["external_id"] and d, what="the send recorded"
    )
    assert shown["status"] == "bounced", "recording the send did not undo the failure"
    assert shown["external_id"] == wamid
    assert "131049" in shown["last_error"]


def test_a_reply_outside_the_window_goes_as_the_template_with_number_and_tracking_link(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    close_window(harness)
    agent_reply(harness, fake_whatsapp, "The blue one is back in stock.")
    sent = fake_whatsapp.messages()[-1]
    assert sent.type == "template"
    ticket = harness.ticket(1)
    number, link = [p["text"] for p in sent.body["template"]["components"][0]["parameters"]]
    assert number == ticket["number"]
    # The ticket's tracking link, signed when the template went (a second may have passed)
    ctx = harness.ctx
    assert link.startswith(ctx.tracking_path("", full=True))
    named = ctx.tracking_nonce(link.rsplit("/", 1)[1])
    assert named is not None and named == ctx.tracking_nonce(
        ticket["tracking_link"].rsplit("/", 1)[1]
    )
    assert sent.body["template"]["name"] == "ticket_update"
    assert not [m for m in fake_whatsapp.messages() if "blue one" in m.text], "never free-form"


def test_when_whatsapp_says_the_window_is_closed_the_template_goes_instead(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    fake_whatsapp.fail_next(131047, title="Re-engagement message")
    agent_reply(harness, fake_whatsapp, "Are you still there?")
    assert fake_whatsapp.messages()[-1].type == "template"


def test_rate_limits_are_retried_later_and_other_errors_fail_with_code_and_title(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    fake_whatsapp.fail_next(
        131056, title="(Business Account, Consumer Account) pair rate limit hit"
    )
    from channels.whatsapp import sender as sender_module

    sender_module.RATE_LIMITS[131056] = 0.1  # the test need not wait a minute
    try:
        wamid, row_id = agent_reply(harness, fake_whatsapp, "First answer.")
    finally:
        sender_module.RATE_LIMITS[131056] = 60.0
    shown = delivery(harness, row_id)
    assert (shown["status"], shown["attempts"]) == ("sent", 2)
    assert len([m for m in fake_whatsapp.messages() if m.text.startswith("First answer.")]) == 1
    fake_whatsapp.fail_next(131026, title="Message undeliverable")
    reply(harness, "Second answer.")
    harness.settle()
    with harness.ctx.db.reading() as s:
        from core.models import OutboxDelivery

        last = (
            s.execute(select(OutboxDelivery).order_by(OutboxDelivery.id.desc())).scalars().first()
        )
        assert last is not None
        assert last.status == "failed"
        assert "WhatsApp error 131026: (#131026) Message undeliverable" in (last.last_error or "")


def test_a_question_with_buttons_goes_as_reply_buttons(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    opened(harness, wa, fake_whatsapp)
    from core.values import Outbound

    sender = harness.system.senders["whatsapp"]
    out = Outbound(
        key="satisfaction-1",
        channel="whatsapp",
        recipient=CLIENT,
        kind="survey",
        text="How did we do on T-000001?",
        extras={"buttons": [("good", "Good"), ("bad", "Not good at all, sorry")]},
    )
    wamid = sender.send(out)
    assert sender.send(out) == wamid, "the same key twice is sent once"
    sent = fake_whatsapp.messages()[-1]
    assert sent.type == "interactive"
    assert sent.body["interactive"]["body"]["text"] == "How did we do on T-000001?"
    assert [b["reply"] for b in sent.body["interactive"]["action"]["buttons"]] == [
        {"id": "good", "title": "Good"},
        {"id": "bad", "title": "Not good at all, so…"},
    ]
    answer = message(
        "button_reply",
        interactive={"type": "button_reply", "button_reply": {"id": "good", "title": "Good"}},
        context={"from": "15550783881", "id": wamid},
    )
    wa.send(answer)
    harness.settle()
    assert texts(harness)[-1] == "Good"


def test_a_client_answering_our_message_continues_that_messages_ticket(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    """WhatsApp names the message a client replies to: it wins over the chat's open ticket."""
    opened(harness, wa, fake_whatsapp)
    harness.open_ticket(subject="Your invoice", requester=("whatsapp", CLIENT, CLIENT_NAME))
    harness.settle()
    wamid, _ = agent_reply(harness, fake_whatsapp, "Which invoice number is it?", number=2)
    answer = message("text", text={"body": "INV-77."}, context={"from": "15550783881", "id": wamid})
    wa.send(message("text", text={"body": "And the colour?"}))
    harness.settle()
    wa.send(answer)
    harness.settle()
    assert texts(harness, 2)[-1] == "INV-77."
    assert texts(harness, 1)[-1] == "And the colour?"
    assert [r.rules_fired[0] for r in wa.records()[-2:]] == ["chat", "references"]


def test_a_token_without_the_app_secret_verify_token_and_number_id_stops_at_start(
    tmp_path: Path,
) -> None:
    from config.runtime import wire
    from config.settings import load_settings
    from core.errors import ConfigError

    settings = load_settings(data_dir=tmp_path, secret_key="k", whatsapp_token="EAA-token")
    with pytest.raises(ConfigError) as refused:
        wire(settings)
    assert str(refused.value).startswith(
        "SWITCHBOARD_WHATSAPP_TOKEN is set, so SWITCHBOARD_WHATSAPP_APP_SECRET, "
        "SWITCHBOARD_WHATSAPP_VERIFY_TOKEN, SWITCHBOARD_WHATSAPP_PHONE_NUMBER_ID must be set too"
    )


def test_a_long_reply_goes_in_parts_cut_at_paragraphs_and_a_retry_sends_none_again(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    from core.values import Outbound

    opened(harness, wa, fake_whatsapp)
    paragraphs = [(f"Step {n}: " + "turn the valve slowly. " * 60).strip() for n in range(1, 7)]
    out = Outbound(
        key="reply-long",
        channel="whatsapp",
        recipient=CLIENT,
        kind="reply",
        text="\n\n".join(paragraphs),
    )
    sender = harness.system.senders["whatsapp"]
    before = len(fake_whatsapp.messages())
    wamid = sender.send(out)
    parts = [m.text for m in fake_whatsapp.messages()[before:]]
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == out.text, "cut only between paragraphs, nothing lost"
    assert sender.send(out) == wamid
    assert len(fake_whatsapp.messages()) == before + len(parts), "a retry sends nothing again"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_tickets_show_prints_the_window_the_link_and_what_whatsapp_reported(
    harness: Harness,
    wa: WhatsAppDriver,
    fake_whatsapp: FakeWhatsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from config.cli import main

    opened(harness, wa, fake_whatsapp)
    wamid, _ = agent_reply(harness, fake_whatsapp, "Blue is back.")
    wa.send(statuses=[status(wamid, "delivered"), status(wamid, "read")])
    harness.settle()
    for name in (
        "data_dir",
        "database_url",
        "secret_key",
        "whatsapp_token",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "whatsapp_phone_number_id",
        "whatsapp_api_url",
        "whatsapp_template",
    ):
        monkeypatch.setenv(f"SWITCHBOARD_{name.upper()}", str(getattr(harness.settings, name)))
    shown = CliRunner().invoke(main, ["tickets", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "  WhatsApp window open 23 h more\n" in shown.output
    assert f"  Send on WhatsApp: https://wa.me/{CLIENT}?text=About%20your%20ticket" in shown.output
    assert "reply via whatsapp -> sent, read (attempts 1)" in shown.output


def test_a_free_form_reply_whatsapp_refuses_later_for_the_closed_window_goes_again_as_the_template(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    """WhatsApp may accept the call and report 131047 afterwards, in a failed status."""
    opened(harness, wa, fake_whatsapp)
    wamid, row_id = agent_reply(harness, fake_whatsapp, "Blue is back.")
    refused = {"code": 131047, "title": "Re-engagement message"}
    wa.send(statuses=[status(wamid, "failed", errors=[refused])])
    wa.send(statuses=[status(wamid, "failed", errors=[refused])])  # re-delivered: once
    harness.settle()
    templates = [m for m in fake_whatsapp.messages() if m.type == "template"]
    assert len(templates) == 1
    deliveries = harness.ticket(1)["deliveries"]
    assert next(d for d in deliveries if d["id"] == row_id)["status"] == "bounced"
    assert [d["status"] for d in deliveries if d["id"] > row_id] == ["sent"]
    hints = harness.ticket(1)["client"]["hints"]
    assert hints[0] == {"text": "WhatsApp window closed: your reply goes as a template"}


def test_other_changes_and_statuses_of_messages_we_never_sent_are_recorded_not_dropped(
    harness: Harness, wa: WhatsAppDriver
) -> None:
    body = webhook()
    value = body["entry"][0]["changes"][0]["value"]
    value["errors"] = [{"code": 131000, "title": "Something went wrong", "message": "x"}]
    assert wa.post(body).json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    wa.send(statuses=[status("wamid.sent-from-elsewhere", "delivered")])
    harness.settle()
    reasons = [(r.outcome, r.reason) for r in wa.records()]
    assert reasons == [
        ("event", "WhatsApp messages change recorded: 131000 Something went wrong"),
        (
            "event",
            "delivered status for a message Switchboard did not send (wamid.sent-from-elsewhere)",
        ),
    ]
    assert harness.tickets()["total"] == 0


@whole_system_examples(15)
@given(
    kind=st.sampled_from(
        ["text", "location", "contacts", "button", "unsupported", "reaction", "order", "ephemeral"]
    ),
    words=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
)
@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_kind_of_message_is_dropped_silently(
    harness: Harness, wa: WhatsAppDriver, kind: str, words: str
) -> None:
    """Property: whatever type a message has (one we have never heard of too), it is
    decided: a ticket message, or for a reaction an event saying what became of it."""
    if kind in ("order", "ephemeral"):  # types this channel has no reading of its own for
        found = message("text", CLIENT, type=kind, **{kind: {"note": words}})
        del found["text"]
    elif kind == "text":
        found = message("text", text={"body": words or "?"})
    else:
        found = message(kind)
    wa.send(found)
    harness.settle()
    record = wa.records()[-1]
    assert record.external_id == found["id"]
    assert record.status == "done", (record.outcome, record.reason)
    if kind == "reaction":
        assert record.outcome == "event" and "reacted" in (record.reason or "")
    else:
        assert record.message_id is not None or record.outcome == "open"


def test_the_satisfaction_question_goes_as_buttons_and_not_fixed_pressed_reopens_the_ticket(
    harness: Harness, wa: WhatsAppDriver, fake_whatsapp: FakeWhatsApp
) -> None:
    from core.tickets import lookup, workflow

    opened(harness, wa, fake_whatsapp)
    agent, _ = harness.agent("Ana")
    with harness.ctx.db.transaction() as s:
        ticket = lookup.get_ticket(s, 1, lock=True)
        workflow.acknowledge(harness.ctx, s, agent, ticket)
        workflow.resolve(harness.ctx, s, agent, ticket, code="fixed", steps="Reset the reader.")
    harness.settle()
    question = wait_until(
        lambda: [m for m in fake_whatsapp.messages(CLIENT) if m.type == "interactive"],
        what="the satisfaction question on WhatsApp",
    )[-1]
    buttons = question.body["interactive"]["action"]
    choices = buttons.get("buttons") or [
        row for section in buttons.get("sections", []) for row in section["rows"]
    ]
    ids = [c["reply"]["id"] if "reply" in c else c["id"] for c in choices]
    not_fixed = next(i for i in ids if i.endswith(":notfixed"))
    kind = "button_reply" if "buttons" in buttons else "list_reply"
    wa.send(
        message(
            "button_reply",
            interactive={"type": kind, kind: {"id": not_fixed, "title": "Not fixed"}},
            context={"from": "15550783881", "id": question.wamid},
        )
    )
    harness.settle()
    assert harness.ticket(1)["status"] not in ("resolved", "closed"), "not fixed reopens it"
    answered = [e for e in harness.ticket(1)["audit"] if e["action"] == "satisfaction"]
    assert answered and answered[0]["data"]["fixed"] is False
    assert answered[0]["data"]["channel"] == "whatsapp"
