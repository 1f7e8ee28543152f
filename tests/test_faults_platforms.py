"""Telegram's and WhatsApp's APIs down, at start and while running, under ``switchboard
up``: refusing connections, answering 500, answering 429.

The process stays up and keeps taking messages on every channel; /healthz says which
channel is degraded (Telegram's webhook registration at start; deliveries on each
channel while they fail); every acknowledgement is retried and sent once when the
platform is back, and the parts come up again by themselves.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from core.health import DEGRADED, UP
from tests.email_support import free_port
from tests.faketelegram import TOKEN as TELEGRAM_TOKEN
from tests.faketelegram import FakeTelegram, Updates
from tests.fakewhatsapp import PHONE_NUMBER_ID, FakeWhatsApp
from tests.fakewhatsapp import TOKEN as WHATSAPP_TOKEN
from tests.harness import BIN, process_env, stop_process, wait_until
from tests.telegram_support import SECRET
from tests.whatsapp_support import APP_SECRET, VERIFY_TOKEN, message, sign, webhook

WEBHOOK_PART = "Telegram webhook at https://support.example/telegram/webhook"


class Platforms:
    """Both fakes on fixed ports, which a test can take down three ways and bring back."""

    def __init__(self) -> None:
        self.telegram, self.whatsapp = FakeTelegram(), FakeWhatsApp()
        self.telegram_port, self.whatsapp_port = free_port(), free_port()
        self.listening = False

    def down(self, how: str) -> None:
        if how == "refused":
            if self.listening:
                self.telegram.stop()
                self.whatsapp.stop()
                self.listening = False
            return
        code = int(how)
        self.telegram.outage = self.whatsapp.outage = code
        self.up(clear=False)

    def up(self, clear: bool = True) -> None:
        if clear:
            self.telegram.outage = self.whatsapp.outage = 0
        if not self.listening:
            self.telegram.start(self.telegram_port)
            self.whatsapp.start(self.whatsapp_port)
            self.listening = True

    def stop(self) -> None:
        if self.listening:
            self.telegram.stop()
            self.whatsapp.stop()


@pytest.mark.parametrize("how", ["refused", "500", "429"])
def test_telegram_and_whatsapp_down_at_start_and_at_run_time_degrade_only_their_channel(
    tmp_path: Path, how: str
) -> None:
    platforms = Platforms()
    http_port, smtp_port = free_port(), free_port()
    env = process_env(
        {
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            "SWITCHBOARD_HTTP_PORT": str(http_port),
            "SWITCHBOARD_SMTP_PORT": str(smtp_port),
            "SWITCHBOARD_SECRET_KEY": "test-secret",
            "SWITCHBOARD_PUBLIC_URL": "https://support.example",
            "SWITCHBOARD_DELIVERY_BACKOFF_SECONDS": "0.5",
            "SWITCHBOARD_DELIVERY_MAX_ATTEMPTS": "12",
            "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
            "SWITCHBOARD_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "SWITCHBOARD_TELEGRAM_API_URL": f"http://127.0.0.1:{platforms.telegram_port}",
            "SWITCHBOARD_TELEGRAM_MODE": "webhook",
            "SWITCHBOARD_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "SWITCHBOARD_WHATSAPP_TOKEN": WHATSAPP_TOKEN,
            "SWITCHBOARD_WHATSAPP_APP_SECRET": APP_SECRET,
            "SWITCHBOARD_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "SWITCHBOARD_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "SWITCHBOARD_WHATSAPP_API_URL": f"http://127.0.0.1:{platforms.whatsapp_port}",
            "SWITCHBOARD_WHATSAPP_TEMPLATE": "ticket_update",
        }
    )
    base = f"http://127.0.0.1:{http_port}"
    updates = Updates()
    log = tmp_path / "up.log"
    # Given both platforms down before Switchboard starts
    platforms.down(how)
    up = subprocess.Popen([str(BIN), "up"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def parts() -> dict[str, str]:
        assert up.poll() is None, log.read_text()[-3000:]
        try:
            answer = httpx.get(f"{base}/healthz", timeout=2)
        except httpx.HTTPError:
            return {}
        return dict(answer.json().get("parts", {})) if answer.status_code == 200 else {}

    def write_in(chat: int, number: str, text: str) -> None:
        telegram = httpx.post(
            f"{base}/telegram/webhook",
            content=json.dumps(updates.message(chat, text)).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert telegram.status_code == 200, telegram.text
        raw = json.dumps(webhook([message("text", sender=number, text={"body": text})])).encode()
        whatsapp = httpx.post(f"{base}/whatsapp/webhook", content=raw, headers=sign(raw))
        assert whatsapp.status_code == 200, whatsapp.text

    def deliveries_are(state: str) -> bool:
        now = parts()
        return all(
            now.get(part) == state for part in ("telegram deliveries", "whatsapp deliveries")
        )

    def acks(chat: int, number: str) -> tuple[int, int]:
        to_chat = [s for s in platforms.telegram.to_chat(chat) if s.method == "sendMessage"]
        return len(to_chat), len(platforms.whatsapp.messages(number))

    try:
        # When it starts: it answers, and says the Telegram webhook is not registered yet
        wait_until(lambda: parts().get(WEBHOOK_PART) == DEGRADED, 60, "Telegram degraded at start")
        # and clients write in on both channels: stored (200), acknowledgements retried
        write_in(1001, "16505550001", "The gate at site 4 does not open.")
        wait_until(lambda: deliveries_are(DEGRADED), 60, "both channels' deliveries degraded")
        time.sleep(3)  # past the moment a process that stops on a platform error would exit
        assert up.poll() is None
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "degraded" and health["database"] == "ok", health
        assert str(platforms.telegram_port) not in json.dumps(health)
        # Then the platforms come back: each client gets one acknowledgement, parts up
        platforms.up()
        wait_until(lambda: acks(1001, "16505550001") == (1, 1), 90, "both first acknowledgements")
        wait_until(
            lambda: all(parts().get(p) == UP for p in (WEBHOOK_PART, "telegram deliveries", "whatsapp deliveries")),
            60,
            "every part up again",
        )  # fmt: skip
        assert platforms.telegram.webhook.get("secret_token") == SECRET
        # When they go down again while it runs
        platforms.down(how)
        write_in(1002, "16505550002", "Scanner 2 shows E42.")
        wait_until(
            lambda: deliveries_are(DEGRADED), 60, "both channels' deliveries degraded at run time"
        )
        platforms.up()
        wait_until(lambda: acks(1002, "16505550002") == (1, 1), 90, "both second acknowledgements")
        wait_until(lambda: deliveries_are(UP), 60, "the deliveries up again")
        time.sleep(2)  # a second send would show by now
        assert acks(1001, "16505550001") == (1, 1), "an acknowledgement sent twice"
        assert acks(1002, "16505550002") == (1, 1), "an acknowledgement sent twice"
        assert up.poll() is None
    finally:
        stop_process(up)  # type: ignore[arg-type]
        platforms.stop()
    printed = log.read_text()
    assert "Traceback" not in printed, printed[-4000:]
    for part in ("telegram deliveries", "whatsapp deliveries"):
        assert printed.count(f"{part} is degraded") == 2, printed[-4000:]
        assert printed.count(f"{part} is up again") == 2, printed[-4000:]
