"""``switchboard check``: what is configured, what is not, and what that means; and
the same summary in the log when a process starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from config.cli import main as cli
from core.models import Agent
from tests.harness import Harness, free_port, process_env
from tests.test_desk_rules import LEADS

ROOT = Path(__file__).resolve().parent.parent

READY = (
    LEADS
    + """
[escalation.chains.default]
steps = [
  { wait_minutes = 0, notify = "oncall", channels = ["email"] },
  { wait_minutes = 10, notify = "role:lead", channels = ["email"] },
]

[[oncall_rotations]]
name = "primary"
agents = ["ana@support.example"]

[satisfaction]
notify = ["role:lead"]
"""
)


def run(monkeypatch: pytest.MonkeyPatch, harness: Harness, **env: str) -> tuple[int, dict]:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(harness.settings.data_dir))
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", harness.settings.database_url)
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "test-secret")
    for key, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{key.upper()}", value)
    result = CliRunner().invoke(cli, ["check", "--json"])
    return result.exit_code, json.loads(result.output)


def messages(data: dict, level: str) -> list[str]:
    return [f["message"] for f in data["findings"] if f["level"] == level]


def test_a_fresh_install_is_told_that_breaches_and_warnings_will_reach_no_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, data = run(monkeypatch, harness)
    assert code == 1 and data["ok"] is False and data["problems"] >= 3
    problems = messages(data, "problem")
    assert any(
        m.startswith(
            "escalation chain 'default' notifies the queue by Slack, and Slack is not configured"
        )
        and m.endswith("breaches will notify no one")
        for m in problems
    ), problems
    assert any(
        "SLA warning for a ticket nobody has in queue 'support' reaches no one" in m
        for m in problems
    )
    assert any("outbound mail" in m and "reaches no one" in m for m in problems)
    assert any("queue 'support' has no lead" in m for m in problems)
    # The same in words, one line each, most serious first
    text = CliRunner().invoke(cli, ["check"])
    assert text.exit_code == 1
    lines = text.output.splitlines()
    assert lines[0].startswith("Switchboard check: ") and "problem(s)" in lines[0]
    assert lines[1].split()[0] == "problem" and lines[-1].split()[0] == "ok"


def test_a_deployment_that_reaches_people_passes_and_says_who(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness.agent("Ana")
    harness.agent("Lena", roles=("lead",))
    policy = tmp_path / "ready.toml"
    policy.write_text(READY)
    code, data = run(
        monkeypatch,
        harness,
        config_file=str(policy),
        mail_relay_host="mail.example.net",
        public_url="https://support.example.com",
    )
    assert messages(data, "problem") == [] and code == 0 and data["ok"] is True
    ok = messages(data, "ok")
    assert any(
        "escalation chain 'default' reaches who is on call ('primary') by email; then role lead by email"
        in m
        for m in ok
    ), ok
    assert any("outbound mail leaves through mail.example.net" in m for m in ok)
    # Ana leaves: the rotation names someone who is not an agent any more
    with harness.ctx.db.transaction() as s:
        s.execute(update(Agent).where(Agent.email == "ana@support.example").values(active=False))
    code, data = run(monkeypatch, harness)
    warnings = messages(data, "warning")
    assert any("rotation 'primary' names ana@support.example" in m for m in warnings), warnings
    assert any("step 1 notifies who is on call ('primary') by email" in m for m in warnings)


def test_a_starting_process_logs_the_summary_and_each_problem(tmp_path: Path) -> None:
    env = process_env(
        {
            "PYTHONPATH": str(ROOT),
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            "SWITCHBOARD_HTTP_PORT": str(free_port()),
            "SWITCHBOARD_SMTP_PORT": str(free_port()),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-c", "from config.cli import main; main()", "up"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "breaches will notify no one" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    log = "".join(seen)
    assert "check: " in log and "problem(s)" in log, log
    assert "escalation chain 'default' notifies the queue by Slack" in log, log
