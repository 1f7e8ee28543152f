"""The WhatsApp channel end to end: Meta's signed webhooks in, the Graph API (a loopback
fake checked against Meta's spec) out, through the real web app and workers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from channels.whatsapp.models import WhatsAppChat
from config.settings import Settings
from core.tickets import conversation, lookup
from tests.fakewhatsapp import FakeWhatsApp
from tests.harness import Harness, wait_until
from tests.whatsapp_support import (
    CLIENT,
    CLIENT_NAME,
    VERIFY_TOKEN,
    WhatsAppDriver,
    message,
    webhook,
    whatsapp_settings,
)


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, broker_url: str, fake_whatsapp: FakeWhatsApp
) -> Iterator[Settings]:
    yield whatsapp_settings(tmp_path, database_url, broker_url, fake_whatsapp)


@pytest.fixture
def wa(harness: Harness, fake_whatsapp: FakeWhatsApp) -> WhatsAppDriver:
    return WhatsAppDriver(harness, fake_whatsapp)


def thread(harness: Harness, number: int = 1) -> list[dict]:
    return harness.ticket(number)["thread"]


def texts(harness: Harness, number: int = 1) -> list[str]:
    return [m["text"] for m in thread(harness, number) if m["direction"] == "in"]


def reply(harness: Harness, text: str, number: int = 1) -> None:
    agent, _ = harness.agent("Ana")
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
