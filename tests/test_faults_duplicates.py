"""A duplicate storm on the chat channels: Telegram and WhatsApp each send every webhook
three times at once (their retries after a slow answer, a second delivery server):
one ticket per message and one acknowledgement per client, on SQLite and PostgreSQL.

(The SMTP storm, with and without Message-IDs, is in ``tests/test_faults.py``.)
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.faketelegram import FakeTelegram
from tests.fakewhatsapp import FakeWhatsApp
from tests.harness import Harness
from tests.telegram_support import TelegramDriver, telegram_settings
from tests.whatsapp_support import (
    WhatsAppDriver,
    message,
    webhook,
    whatsapp_values,
)

CLIENTS = 15


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> Settings:
    return telegram_settings(
        tmp_path, database_url, broker_url, fake_telegram, **whatsapp_values(fake_whatsapp)
    )


def test_every_telegram_and_whatsapp_webhook_three_times_at_once_is_one_ticket_and_one_ack(
    harness: Harness, fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> None:
    telegram = TelegramDriver(harness, fake_telegram)
    whatsapp = WhatsAppDriver(harness, fake_whatsapp)
    posts: list[tuple[str, Any]] = []
    for n in range(CLIENTS):
        update = telegram.updates.message(5000 + n, f"Scanner {n} shows E42.")
        number = f"1650555{n:04d}"
        body = json.dumps(webhook([message("text", sender=number, text={"body": f"Gate {n} stuck."})]))  # fmt: skip
        for _ in range(3):  # the same update, the same wamid: three deliveries of each
            posts.append(("telegram", update))
            posts.append(("whatsapp", body.encode()))

    def post(item: tuple[str, Any]) -> int:
        channel, body = item
        answer = telegram.post(body) if channel == "telegram" else whatsapp.post(body)
        return int(answer.status_code)

    with ThreadPoolExecutor(max_workers=9) as pool:
        answers = list(pool.map(post, posts))
    assert set(answers) == {200}, answers
    harness.settle(timeout=60)
    tickets = harness.tickets(limit=100)
    assert tickets["total"] == 2 * CLIENTS, tickets["total"]
    assert len(telegram.records()) == CLIENTS
    assert len(whatsapp.records()) == CLIENTS
    for n in range(CLIENTS):
        assert len(telegram.texts_to(5000 + n)) == 1, (
            f"chat {5000 + n}: {telegram.texts_to(5000 + n)}"
        )
        assert len(fake_whatsapp.messages(f"1650555{n:04d}")) == 1, n
