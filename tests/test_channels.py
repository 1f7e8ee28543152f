"""The channel contract: one package and one registry entry plug a channel in, and a
platform that cannot be reached never stops the process."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels import registry
from channels.contract import OK, Channel, Plug, Service
from config.check import Finding, findings
from config.runtime import System
from config.settings import Settings
from core.context import Context
from core.health import DEGRADED
from core.models import AuditEvent
from core.values import Outbound
from tests.fakeslack import FakeSlack
from tests.harness import (
    BIN,
    Harness,
    free_port,
    make_settings,
    start_role,
    stop_process,
    wait_started,
    wait_until,
)
from workers.clock import Clock


def test_a_channel_plugs_in_through_its_value_and_one_registry_entry(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new channel described only by its Channel value, listed in the registry
    seen: dict[str, Any] = {"sent": [], "jobs": [], "ticks": 0, "started": [], "stopped": []}

    class Pigeon:
        channel = "pigeon"

        def send(self, out: Outbound) -> str:
            seen["sent"].append((out.kind, out.recipient))
            return f"pigeon-{len(seen['sent'])}"

    def plug(ctx: Context, settings: Settings) -> Plug:
        def mount(app: Any) -> None:
            @app.get("/pigeon/ping")
            def ping() -> dict[str, str]:
                return {"pong": "pigeon"}

        return Plug(
            sender=Pigeon(),
            jobs={"pigeon_job": lambda value: seen["jobs"].append(value)},
            ticks=[lambda ctx: seen.__setitem__("ticks", seen["ticks"] + 1)],
            mount=mount,
            services=[
                Service(
                    "loft",
                    "imap",
                    lambda: seen["started"].append("loft"),
                    lambda: seen["stopped"].append("loft"),
                )
            ],
        )

    def status(settings: Settings, configured: bool, down: str | None) -> list[tuple[str, str]]:
        return [(OK, "the pigeons fly")] if configured else []

    pigeon = Channel(
        name="pigeon", title="Pigeon post", configured=lambda s: True, plug=plug, status=status
    )
    for where in ("config.runtime.CHANNELS", "config.check.CHANNELS"):
        monkeypatch.setattr(where, (*registry.CHANNELS, pigeon))
    system = System(make_settings(tmp_path, database_url, "memory://"))
    system.start_workers()
    try:
        harness = Harness(system)
        # Then tickets may name it, and their acknowledgements leave through its sender
        _, token = harness.agent("Ana", ("agent",))
        response = harness.open_by_api(token, "pigeon", "coop-3", "Loft door", "Stuck")
        assert response.status_code == 201, response.text
        wait_until(lambda: seen["sent"], what="the acknowledgement sent by the new channel")
        assert seen["sent"] == [("ack", "coop-3")]
        # its job runs on the workers, its tick on the clock, its route on the web app,
        # and its service starts and stops with its role
        system.broker.send("pigeon_job", "hello")
        wait_until(lambda: seen["jobs"], what="the channel's job")
        assert seen["jobs"] == ["hello"]
        system.make_clock().tick()
        assert seen["ticks"] == 1
        from fastapi.testclient import TestClient

        assert TestClient(system.web_app()).get("/pigeon/ping").json() == {"pong": "pigeon"}
        assert system.start_services("imap") == ["loft"]
        # and `switchboard check` says what it says of itself
        assert Finding(OK, "pigeon", "the pigeons fly") in findings(system.settings)
        assert seen["started"] == ["loft"]
    finally:
        system.stop()
    assert seen["stopped"] == ["loft"]


def test_a_ticket_for_a_channel_that_is_not_configured_is_refused_naming_those_that_are(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana", ("agent",))
    response = harness.open_by_api(token, "telegram", "42")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "field.requester.channel"
    assert "telegram" in error["message"] and "email" in error["message"]
    assert "fake" in error["message"] and "slack" not in error["message"]
    assert harness.tickets()["total"] == 0


def test_a_clock_step_that_fails_does_not_stop_the_steps_after_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a channel tick that always fails, ahead of the audit checkpoint,
    # on a machine started a second ago (its monotonic clock near zero)
    def broken(ctx: Context) -> None:
        raise RuntimeError("this tick always fails")

    clock = Clock(harness.ctx, interval=60, redeliver_after=timedelta(seconds=60), ticks=[broken])
    harness.fake.receive("plant-7", "Press 3 is down", subject="Press 3")
    harness.settle()
    # When the clock ticks
    with monkeypatch.context() as patched:
        patched.setattr("workers.clock.time.monotonic", lambda: 1.0)
        clock.tick()
    # Then the audit checkpoint still ran
    with harness.ctx.db.reading() as session:
        from core.models import AuditCheckpoint

        assert session.query(AuditCheckpoint).count() == 1
        assert session.query(AuditEvent).count() >= 1


def slack_said(env: dict[str, str]) -> dict[str, str]:
    """What ``switchboard check`` says of Slack: its finding's level and message."""
    done = subprocess.run(
        [str(BIN), "check", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    findings = json.loads(done.stdout)["findings"]
    return next(f for f in findings if f["part"] == "slack")


@pytest.mark.parametrize("how", ["refused", "500", "429"])
def test_switchboard_up_stays_up_while_slack_is_unreachable_and_reports_it(
    tmp_path: Path, how: str
) -> None:
    # Given Slack's API on a port where nothing listens yet, or answering 500 or 429
    slack_port, http_port, smtp_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_HTTP_PORT": str(http_port),
        "SWITCHBOARD_SMTP_PORT": str(smtp_port),
        "SWITCHBOARD_SLACK_BOT_TOKEN": "xoxb-test",
        "SWITCHBOARD_SLACK_SIGNING_SECRET": "secret",
        "SWITCHBOARD_SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
    }
    for name in ("SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_BROKER_URL", "SWITCHBOARD_SECRET_KEY"):
        env.pop(name, None)
    fake = FakeSlack()
    if how != "refused":
        fake.outage = int(how)
        fake.start(port=slack_port)
    log = tmp_path / "up.log"
    server = start_role(["up"], env, log)
    try:
        base = f"http://127.0.0.1:{http_port}"

        def health() -> dict[str, Any] | None:
            assert server.poll() is None, log.read_text()
            try:
                answer = httpx.get(f"{base}/healthz", timeout=1)
            except httpx.HTTPError:
                return None
            return dict(answer.json()) if answer.status_code == 200 else None

        # When it starts, it answers and says Slack is degraded
        wait_started(server, log)
        first = httpx.get(f"{base}/healthz", timeout=30).json()
        assert first["status"] == "degraded"
        assert first["parts"]["Slack Web API"] == DEGRADED
        # and so does `switchboard check`
        said = slack_said(env)
        assert said["level"] == "warning" and "degraded" in said["message"], said
        # and it keeps running past the moment it used to exit, taking mail meanwhile
        time.sleep(6)
        assert server.poll() is None
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.sendmail(
                "dana@client.example",
                ["support@localhost"],
                b"From: dana@client.example\r\nTo: support@localhost\r\n"
                b"Subject: Printer jammed\r\nMessage-ID: <p1@client.example>\r\n\r\nJammed.\r\n",
            )
        maildir = tmp_path / "data" / "maildir" / "new"
        wait_until(
            lambda: maildir.exists() and list(maildir.iterdir()),
            timeout=20,
            what="the acknowledgement in the maildir",
        )
        assert (health() or {}).get("parts", {}).get("Slack Web API") == DEGRADED
        assert fake.calls_of("auth.test") or how == "refused", "no attempt reached Slack"
        # When Slack comes back, the part comes up by itself
        if how == "refused":
            fake.start(port=slack_port)
        else:
            fake.outage = 0
        wait_until(
            lambda: (health() or {}).get("parts", {}).get("Slack Web API") == "up",
            timeout=90,
            what="the Slack part up again",
        )
        assert (health() or {}).get("status") == "ok"
        said = slack_said(env)
        assert said["level"] == "ok" and "degraded" not in said["message"], said
        assert server.poll() is None
    finally:
        stop_process(server)
        fake.stop()
    printed = log.read_text()
    # The outage is told once when it starts and once when it ends, not per attempt
    assert "Traceback" not in printed and " ERROR " not in printed, printed[-4000:]
    assert printed.count("Slack Web API is degraded") == 1, printed[-4000:]
    assert printed.count("Slack Web API is up again") == 1, printed[-4000:]
