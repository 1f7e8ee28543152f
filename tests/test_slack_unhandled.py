"""Signed Slack requests no listener wants are answered 200 and ignored, never 404.

Slack retries a 404 and, after enough of them, turns the app's events off; an
app_mention, a reaction or another app's button must not cost us that.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from core.models import InboundRecord
from tests.fakeslack import FakeSlack
from tests.harness import Harness
from tests.slack_support import QUEUE_CHANNEL, SlackDriver


@pytest.fixture
def settings(slack_config: Callable[..., Settings]) -> Settings:
    return slack_config()


@pytest.fixture
def slack(harness: Harness, fake_slack: FakeSlack) -> SlackDriver:
    return SlackDriver(harness, fake_slack)


def stored_events(harness: Harness) -> int:
    with harness.ctx.db.reading() as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(InboundRecord)
                .where(InboundRecord.channel == "slack")
            ).scalar_one()
        )


def form(payload: dict[str, object]) -> str:
    return urlencode({"payload": json.dumps(payload)})


@pytest.mark.parametrize(
    "event",
    [
        {
            "type": "app_mention",
            "user": "UCLIENT",
            "text": "<@UBOT> hi",
            "ts": "1.1",
            "channel": QUEUE_CHANNEL,
        },
        {
            "type": "reaction_added",
            "user": "UCLIENT",
            "reaction": "eyes",
            "item": {"type": "message", "channel": QUEUE_CHANNEL, "ts": "1.1"},
        },
        {"type": "member_joined_channel", "user": "UCLIENT", "channel": QUEUE_CHANNEL},
    ],
    ids=["app_mention", "reaction_added", "member_joined_channel"],
)
def test_an_event_no_handler_wants_is_answered_200_and_nothing_is_stored(
    harness: Harness, slack: SlackDriver, event: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="channels.slack")
    response = slack.event(event)
    assert response.status_code == 200
    assert stored_events(harness) == 0
    assert any(
        str(event["type"]) in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records
    )


@pytest.mark.parametrize(
    "body",
    [
        form(
            {
                "type": "block_actions",
                "user": {"id": "UCLIENT"},
                "trigger_id": "1.2",
                "actions": [{"action_id": "other_app_button", "value": "x"}],
                "channel": {"id": QUEUE_CHANNEL},
                "container": {"type": "message"},
            }
        ),
        form(
            {
                "type": "shortcut",
                "callback_id": "other_app_shortcut",
                "user": {"id": "UCLIENT"},
                "trigger_id": "1.2",
                "team": {"id": "T0001"},
            }
        ),
        form(
            {
                "type": "view_submission",
                "user": {"id": "UCLIENT"},
                "view": {
                    "id": "V1",
                    "type": "modal",
                    "callback_id": "other_app_modal",
                    "state": {"values": {}},
                },
            }
        ),
        urlencode(
            {
                "command": "/weather",
                "text": "paris",
                "user_id": "UCLIENT",
                "channel_id": QUEUE_CHANNEL,
                "team_id": "T0001",
                "trigger_id": "1.2",
                "response_url": "https://example.invalid/r",
            }
        ),
    ],
    ids=["other_apps_button", "other_shortcut", "other_modal", "other_slash_command"],
)
def test_an_interaction_no_handler_wants_is_answered_200_not_404(
    harness: Harness, slack: SlackDriver, body: str
) -> None:
    response = slack.post(body, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert stored_events(harness) == 0


def test_an_unsigned_request_is_still_refused(harness: Harness, slack: SlackDriver) -> None:
    mention = {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.1", "channel": "C1"}
    assert slack.event(mention, event_id="EvX", secret="wrong").status_code == 401
