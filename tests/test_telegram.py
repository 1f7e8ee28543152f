"""Clients message the bot on Telegram: webhook intake, files, commands, edits, replies.

Every Bot API call goes to a loopback fake that checks it against the Bot API spec;
every webhook request carries the secret token header as Telegram sends it, with
updates built from the spec's Update type.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from tests.faketelegram import FakeTelegram
from tests.harness import Harness
from tests.telegram_support import TelegramDriver, telegram_settings

CHAT = 4242


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    fake.start()
    yield fake
    fake.stop()
    assert not fake.violations, f"calls the Bot API spec does not allow: {fake.violations}"


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, broker_url: str, fake_telegram: FakeTelegram
) -> Settings:
    return telegram_settings(tmp_path, database_url, broker_url, fake_telegram)


@pytest.fixture
def telegram(harness: Harness, fake_telegram: FakeTelegram) -> TelegramDriver:
    return TelegramDriver(harness, fake_telegram)


def thread(harness: Harness, number: int | str = 1) -> list[dict[str, object]]:
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
