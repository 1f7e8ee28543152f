"""Drive the WhatsApp channel as Meta would: signed webhooks built from the spec's examples."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from config.settings import Settings
from core.models import InboundRecord, OutboxDelivery
from tests.fakewhatsapp import (
    PHONE_NUMBER_ID,
    TOKEN,
    FakeWhatsApp,
    part_problems,
    problems,
    spec,
)
from tests.harness import Harness, make_settings

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
CLIENT = "16505551234"
CLIENT_NAME = "Sheena Nelson"
TEMPLATE = "ticket_update"
_ids = itertools.count(1)

# The webhook examples in the spec, by the message type they carry.
EXAMPLES = {
    "text": "Text Message",
    "reaction": "Reaction Message",
    "image": "Image Message",
    "location": "Location Message",
    "contacts": "Contact Sharing Message",
    "unsupported": "Unsupported Message",
    "button": "Button Message",
    "list_reply": "Interactive List Reply Message",
    "button_reply": "Interactive Button Reply Message",
}
# Media types the spec gives schemas for but no example: (schema, fields the schema requires).
MEDIA_SCHEMAS: dict[str, tuple[str, dict[str, str | bool]]] = {
    "audio": ("AudioMessage_1", {"voice": True, "mime_type": "audio/ogg; codecs=opus"}),
    "document": ("DocumentMessage_1", {"filename": "invoice.pdf", "mime_type": "application/pdf"}),
    "video": ("VideoMessage_1", {"caption": "The gate", "mime_type": "video/mp4"}),
    "sticker": ("StickerMessage_1", {"animated": False, "mime_type": "image/webp"}),
}


def _example(name: str) -> dict[str, Any]:
    examples = spec()["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    return copy.deepcopy(examples[name]["value"])


def new_wamid() -> str:
    return f"wamid.client{next(_ids):06d}{int(time.time() * 1000)}"


def message(kind: str, sender: str = CLIENT, **fields: Any) -> dict[str, Any]:
    """One incoming message of ``kind`` as the spec's example has it (fresh id, now)."""
    if kind in MEDIA_SCHEMAS:
        schema, required = MEDIA_SCHEMAS[kind]
        media_id = fields.pop("media_id", f"media-{kind}-{next(_ids)}")
        body = {"id": media_id, "sha256": "b64hash=", **required}
        found = {
            "from": sender,
            "id": new_wamid(),
            "timestamp": str(int(time.time())),
            "type": kind,
            kind: body,
        }
        assert not part_problems(schema, kind, body), part_problems(schema, kind, body)
    else:
        value = _example(EXAMPLES[kind])["entry"][0]["changes"][0]["value"]
        found = value["messages"][0]
        found["from"], found["id"] = sender, new_wamid()
        found["timestamp"] = str(int(time.time()))
    for name, given in fields.items():
        found[name] = given
    return found


def status(wamid: str, state: str, *, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": CLIENT,
    }
    if errors:
        found["errors"] = errors
    assert not problems("Statuses", found), problems("Statuses", found)
    return found


def webhook(
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
    statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    phone_number_id: str = PHONE_NUMBER_ID,
    name: str = CLIENT_NAME,
) -> dict[str, Any]:
    """A webhook body shaped as the spec's ``Text Message`` example."""
    body = _example("Text Message")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value.pop("messages")
    value.pop("contacts")
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [{"profile": {"name": name}, "wa_id": s} for s in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return body


def sign(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


class WhatsAppDriver:
    def __init__(self, harness: Harness, fake: FakeWhatsApp) -> None:
        self.harness = harness
        self.fake = fake
        self.client = TestClient(harness.system.web_app(), raise_server_exceptions=False)

    def post(self, body: dict[str, Any] | bytes, *, secret: str = APP_SECRET) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post("/whatsapp/webhook", content=raw, headers=sign(raw, secret))

    def send(self, *messages: dict[str, Any], statuses: list[dict[str, Any]] = ()) -> Any:  # type: ignore[assignment]
        response = self.post(webhook(list(messages), list(statuses)))
        assert response.status_code == 200, response.text
        return response

    def records(self) -> list[InboundRecord]:
        return self.harness.records("whatsapp")

    def deliveries(self) -> list[OutboxDelivery]:
        return self.harness.deliveries(channel="whatsapp")


def whatsapp_settings(
    tmp_path: Path, database_url: str, broker_url: str, fake: FakeWhatsApp, **more: Any
) -> Settings:
    return make_settings(tmp_path, database_url, broker_url, **whatsapp_values(fake), **more)


def whatsapp_values(fake: FakeWhatsApp) -> dict[str, Any]:
    """The settings that configure the WhatsApp channel against ``fake``."""
    return {
        "whatsapp_token": TOKEN,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_api_url": fake.url,
        "whatsapp_template": TEMPLATE,
    }
