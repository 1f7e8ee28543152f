"""Logs: one JSON object per line when asked, about a ticket, never showing a secret."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import logging as sblogging
from config.settings import load_settings
from core.errors import ConfigError, DeliveryError
from tests.harness import Harness, process_env, wait_until

ROOT = Path(__file__).resolve().parent.parent
LEAKY = (
    "relay said: Authorization: Bearer sbt_Zq81LeakedApiToken at "
    "smtp://mailer:hunter2-pass@relay.example:587 with xoxb-1234-5678-abcdefLEAK, "
    "link https://help.example/t/AbCdEfGhIjKlMnOp12 to support+AbCdEfGhIjKlMnOpQr@help.example, "
    "key test-secret"
)
SECRETS = (
    "sbt_Zq81LeakedApiToken",
    "hunter2-pass",
    "abcdefLEAK",
    "AbCdEfGhIjKlMnOp12",
    "AbCdEfGhIjKlMnOpQr",
    "test-secret",
)


@pytest.fixture
def json_log(harness: Harness) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = sblogging.setup("INFO", "json", harness.settings.secret_values(), stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)  # type: ignore[arg-type]


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_logs_say_which_ticket_channel_and_delivery_and_hide_secrets(
    harness: Harness, json_log: io.StringIO
) -> None:
    # Given a delivery that fails once with an error full of secrets, then goes out
    harness.system.senders["fake"].fail_next.append(DeliveryError(LEAKY))  # type: ignore[attr-defined]
    harness.fake.receive("c-1", "The kiln does not heat.", subject="Kiln")
    harness.settle()
    wait_until(lambda: "delivered outbox row" in json_log.getvalue(), what="the delivery log")
    lines = _lines(json_log)
    # Then every line is one object with time, level, logger and message
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    delivered = next(x for x in lines if "delivered outbox row" in str(x["message"]))
    failed = next(x for x in lines if "after attempt" in str(x["message"]))
    # And the delivery lines name the ticket, the channel and the outbox key
    for line in (delivered, failed):
        assert line["ticket"] == "T-000001"
        assert line["channel"] == "fake"
        assert str(line["outbox_key"]).startswith("ack:")
    # And nothing secret is in the log, while what was wrong still reads
    text = json_log.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    assert "Bearer [redacted]" in str(failed["message"])
    assert "smtp://mailer:[redacted]@relay.example" in str(failed["message"])


def test_the_text_format_hides_the_same_secrets() -> None:
    stream = io.StringIO()
    handler = sblogging.setup("INFO", "text", ["test-secret"], stream=stream)
    try:
        logging.getLogger("switchboard.test").warning("%s", LEAKY)
    finally:
        logging.getLogger().removeHandler(handler)  # type: ignore[arg-type]
    line = stream.getvalue()
    assert "WARNING switchboard.test: relay said" in line
    assert not [s for s in SECRETS if s in line]


def test_a_log_format_other_than_text_or_json_stops_the_process_naming_it() -> None:
    with pytest.raises(ConfigError, match="SWITCHBOARD_LOG_FORMAT"):
        load_settings(log_format="yaml")


def test_a_process_started_with_json_logs_writes_only_json_lines(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from config.cli import main; main()", "migrate"],
        cwd=tmp_path,
        env=process_env(
            {
                "PYTHONPATH": str(ROOT),
                "SWITCHBOARD_LOG_FORMAT": "json",
                "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            }
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines, "migrate logs what it does"
    assert any("Running upgrade" in str(x["message"]) for x in lines)
    assert {x["level"] for x in lines} <= {"DEBUG", "INFO", "WARNING", "ERROR"}
