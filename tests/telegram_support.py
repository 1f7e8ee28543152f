"""Drive Switchboard's Telegram channel as Telegram would: webhook updates with the
secret token header, against a loopback fake of the Bot API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from config.settings import Settings
from core.models import InboundRecord, OutboxDelivery
from tests.faketelegram import TOKEN, FakeTelegram, Updates
from tests.harness import Harness, make_settings, policy_file
from tests.sla_support import chain_toml, rotation_toml

SECRET = "test-webhook-secret_1"
POLICY = chain_toml(
    (0, "oncall", "telegram"), (60, "oncall", "telegram"), repeat=False, every=None
) + rotation_toml("ben@support.example", timezone="UTC")


def telegram_settings(
    tmp_path: Path, database_url: str, broker_url: str, fake: FakeTelegram, **more: Any
) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": fake.url,
        "telegram_mode": "webhook",
        "telegram_webhook_secret": SECRET,
        "public_url": "https://support.example",
        "config_file": policy_file(tmp_path, POLICY),
        "delivery_max_attempts": 5,
        **more,
    }
    return make_settings(tmp_path, database_url, broker_url, **values)


class TelegramDriver:
    """The Telegram side of a test: updates to /telegram/webhook, the fake Bot API."""

    def __init__(self, harness: Harness, fake: FakeTelegram) -> None:
        self.harness = harness
        self.fake = fake
        self.updates = Updates()
        self.client = TestClient(harness.system.web_app(), raise_server_exceptions=False)

    def post(self, update: dict[str, Any] | bytes, secret: str | None = SECRET) -> Any:
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return self.client.post("/telegram/webhook", content=body, headers=headers)

    def send(self, update: dict[str, Any]) -> dict[str, Any]:
        """Post an update, expect it stored (200), and wait for the workers."""
        response = self.post(update)
        assert response.status_code == 200, response.text
        self.harness.settle()
        return update

    def say(self, chat: int, text: str | None = None, **content: Any) -> dict[str, Any]:
        return self.send(self.updates.message(chat, text, **content))

    def texts_to(self, chat: int) -> list[str]:
        return [s.text for s in self.fake.to_chat(chat) if s.method == "sendMessage"]

    def records(self) -> list[InboundRecord]:
        return self.harness.records("telegram")

    def deliveries(self, **where: Any) -> list[OutboxDelivery]:
        return self.harness.deliveries(**where)
