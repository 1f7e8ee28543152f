"""Texts a person reads: durations in the right number, people by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from config.cli import main
from config.settings import Settings
from tests.harness import Harness, make_settings

ONE_MINUTE = """
[sla.P1]
response_minutes = 1
resolution_minutes = 60
hours = "24x7"
"""


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    path = tmp_path / "policy.toml"
    path.write_text(ONE_MINUTE)
    return make_settings(tmp_path, database_url, broker_url, config_file=path)


def test_a_one_minute_target_is_promised_as_one_minute(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    opened = harness.open_by_api(token, "fake", "line-4", "Line 4 is down", "Stopped at 6:00.")
    assert opened.json()["priority"] == "P1"
    harness.settle()
    ack = harness.sent()[0]["text"]
    assert "within 1 minute." in ack
    assert "1 minutes" not in ack


def test_tickets_show_names_people_and_says_the_response_was_met(
    harness: Harness,
    cli: CliRunner,
) -> None:
    _, token = harness.agent("Ana Silva")
    harness.fake.receive(
        "c-7", "The badge printer is down.", subject="Badge printer", sender_name="Lia Moreau"
    )
    harness.settle()
    number = harness.only_ticket_number()
    before = cli.invoke(main, ["tickets", "show", number]).output
    assert "response due" in before
    # When an agent answers within the target
    reply = harness.api("POST", f"/api/tickets/{number}/reply", token, json={"text": "On it."})
    assert reply.status_code == 200, reply.text
    harness.settle()
    shown = cli.invoke(main, ["tickets", "show", number])
    assert shown.exit_code == 0, shown.output
    # Then the thread names both people, and the response clock says met
    assert "Lia Moreau: The badge printer is down." in shown.output
    assert "Ana Silva: On it." in shown.output
    assert "contact:" not in shown.output
    assert "response met" in shown.output
    assert "response due" not in shown.output
    data = harness.ticket(number)
    assert [m["author_ref"].split(":")[0] for m in data["thread"]][:2] == ["contact", "agent"]
