"""Drive Switchboard's Slack app as Slack would: signed events, interactions and commands."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import Settings
from core import staff
from core.models import Agent, InboundRecord, StaffIdentity
from tests.fakeslack import FakeSlack
from tests.harness import Harness, make_settings, wait_until

SIGNING_SECRET = "test-signing-secret"
QUEUE_CHANNEL = "CQUEUE01"
_ts = itertools.count(1)


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def slack_options(fake: FakeSlack, **more: Any) -> dict[str, Any]:
    """The settings that turn the Slack channel on against the loopback fake."""
    return {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.url,
        "slack_default_channel": QUEUE_CHANNEL,
        **more,
    }


def slack_settings(
    tmp_path: Path, database_url: str, broker_url: str, fake: FakeSlack, **more: Any
) -> Settings:
    """``make_settings`` with the Slack channel on (see ``slack_options``)."""
    return make_settings(tmp_path, database_url, broker_url, **slack_options(fake, **more))


class SlackDriver:
    """The Slack side of a test: the fake Web API and signed requests to /slack/events.

    ``agents``: (name, Slack user id) of the agents to create and link first."""

    def __init__(self, harness: Harness, fake: FakeSlack, *agents: tuple[str, str]) -> None:
        self.harness = harness
        self.fake = fake
        web = harness.system.web_app()
        self.client = TestClient(web, raise_server_exceptions=False)
        for name, slack_user in agents:
            self.agent(name, slack_user)

    # Staff ---------------------------------------------------------------------------

    def agent(self, name: str, slack_user: str, roles: tuple[str, ...] = ("agent",)) -> None:
        principal, _ = self.harness.agent(name, roles)
        with self.harness.ctx.db.transaction() as session:
            agent = session.get(Agent, principal.agent_id)
            assert agent is not None
            staff.set_address(session, agent, "slack", slack_user)

    def agent_id(self, slack_user: str) -> int:
        with self.harness.ctx.db.reading() as session:
            return int(
                session.execute(
                    select(StaffIdentity.agent_id).where(
                        StaffIdentity.channel == "slack", StaffIdentity.address == slack_user
                    )
                ).scalar_one()
            )

    # Requests ------------------------------------------------------------------------

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        secret: str = SIGNING_SECRET,
    ) -> Any:
        all_headers = {
            "Content-Type": content_type,
            **sign(body, timestamp, secret),
            **(headers or {}),
        }
        return self.client.post("/slack/events", content=body.encode(), headers=all_headers)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry: int | None = None,
        **kwargs: Any,
    ) -> Any:
        body = json.dumps(
            {
                "token": "unused",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else {}
        )
        return self.post(body, "application/json", headers=headers, **kwargs)

    def message(
        self,
        user: str,
        text: str,
        *,
        channel: str = QUEUE_CHANNEL,
        thread_ts: str | None = None,
        channel_type: str = "channel",
        event_id: str | None = None,
        retry: int | None = None,
    ) -> Any:
        ts = f"1800000000.{next(_ts):06d}"
        event = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, event_id=event_id, retry=retry)

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        return self.post(
            urlencode({"payload": json.dumps(payload)}),
            "application/x-www-form-urlencoded",
            **kwargs,
        )

    def press(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str = QUEUE_CHANNEL,
        message_ts: str = "",
    ) -> Any:
        return self.interaction(
            {
                **_from_user("block_actions", user),
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "card_actions_0",
                        "value": value,
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> Any:
        state: dict[str, Any] = {}
        for block_id, value in values.items():
            if isinstance(value, dict):
                state[block_id] = {"value": value}
            else:
                state[block_id] = {"value": {"type": "plain_text_input", "value": value}}
        return self.interaction(
            {
                **_from_user("view_submission", user),
                "view": {**view, "id": "V1", "state": {"values": state}},
            }
        )

    def command(self, user: str, text: str) -> Any:
        body = urlencode(
            {
                "command": "/ticket",
                "text": text,
                "user_id": user,
                "team_id": "T0001",
                "channel_id": QUEUE_CHANNEL,
                "trigger_id": "t",
                "response_url": "http://127.0.0.1:9/none",
                "api_app_id": "A0001",
            }
        )
        return self.post(body, "application/x-www-form-urlencoded")

    def say_in_thread(self, user: str, card_ts: str, text: str, what: str) -> None:
        """``user`` writes ``text`` in a card's thread; returns once it is decided and
        what it queued has left (``what`` names it in a failure)."""
        event_id = f"Ev{uuid.uuid4().hex[:12]}"
        self.message(user, text, thread_ts=card_ts, event_id=event_id)
        wait_for(lambda: event_done(self.harness, event_id), what=what)
        self.harness.settle()

    # Reading Slack -------------------------------------------------------------------

    def card(self, number: str) -> Any:
        def find() -> Any:
            for m in self.fake.posted(QUEUE_CHANNEL):
                if (
                    not m.thread_ts
                    and m.blocks
                    and m.blocks[0].get("type") == "header"
                    and m.blocks[0]["text"]["text"].startswith(number)
                ):
                    return m
            return None

        return wait_for(find, what=f"the card of {number}")

    def thread(self, card_ts: str) -> list[str]:
        return [json.dumps(m.blocks) for m in self.fake.posted(QUEUE_CHANNEL, card_ts)]

    def ephemerals(self, user: str) -> list[str]:
        return [m.text for m in self.fake.ephemerals if m.ephemeral_user == user]


def stored_event(harness: Harness, event_id: str) -> InboundRecord | None:
    """The inbound record an event or button press was stored as, if any."""
    with harness.ctx.db.reading() as session:
        return session.execute(
            select(InboundRecord).where(
                InboundRecord.channel == "slack", InboundRecord.external_id == event_id
            )
        ).scalar_one_or_none()


def event_done(harness: Harness, event_id: str) -> bool:
    """Whether the event or button press is stored and decided."""
    row = stored_event(harness, event_id)
    return row is not None and row.status != "pending"


def _from_user(kind: str, user: str) -> dict[str, Any]:
    """What every interaction payload of ``kind`` says of where it comes from."""
    return {
        "type": kind,
        "team": {"id": "T0001"},
        "user": {"id": user, "team_id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": f"trig-{uuid.uuid4().hex[:8]}",
    }


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return wait_until(check, timeout, what)
