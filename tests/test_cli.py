"""The switchboard command, as an operator uses it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.cli import main
from config.settings import describe_settings
from tests.harness import Harness

ROOT = Path(__file__).resolve().parent.parent


def test_tickets_show_json_has_the_thread_deliveries_and_audit(
    harness: Harness, cli: CliRunner
) -> None:
    _, token = harness.agent("Ana")
    harness.api(
        "POST",
        "/api/tickets",
        token,
        json={
            "subject": "Forklift battery",
            "text": "Won't charge.",
            "requester": {"channel": "fake", "address": "c-1"},
        },
    )
    harness.settle()
    result = cli.invoke(main, ["tickets", "show", "T-000001", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["number"] == "T-000001"
    assert [e["action"] for e in data["audit"]] == ["open", "delivered"]
    assert data["deliveries"][0]["status"] == "sent"
    human = cli.invoke(main, ["tickets", "show", "1"])
    assert "Forklift battery" in human.output and "delivered" in human.output


def test_tickets_list_json_and_text(harness: Harness, cli: CliRunner) -> None:
    harness.fake.receive("c-1", "Won't charge.", subject="Forklift battery")
    harness.settle()
    data = json.loads(cli.invoke(main, ["tickets", "list", "--json"]).output)
    assert data["total"] == 1 and data["tickets"][0]["subject"] == "Forklift battery"
    assert "T-000001" in cli.invoke(main, ["tickets", "list"]).output


def test_an_unknown_ticket_is_a_clear_error(harness: Harness, cli: CliRunner) -> None:
    result = cli.invoke(main, ["tickets", "show", "T-004242"])
    assert result.exit_code == 1
    assert "ticket T-004242 does not exist" in result.output


def test_parked_list_and_retry(harness: Harness, cli: CliRunner) -> None:
    harness.fake.receive("c-1", "   ")
    harness.settle()
    items = json.loads(cli.invoke(main, ["parked", "list", "--json"]).output)
    assert [(i["id"], i["rule"]) for i in items] == [("in-1", "empty")]
    result = cli.invoke(main, ["parked", "retry", "in-1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "parked", (
        "still empty: parked again, with its reason"
    )
    assert cli.invoke(main, ["parked", "retry", "bogus"]).exit_code == 1


def test_audit_verify_exits_non_zero_when_the_trail_was_edited(
    harness: Harness, cli: CliRunner
) -> None:
    from sqlalchemy import text

    harness.fake.receive("c-1", "Won't charge.", subject="Forklift battery")
    harness.settle()
    ok = cli.invoke(main, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    with harness.ctx.db.transaction() as s:
        if harness.ctx.db.is_postgres:
            s.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            s.execute(text("DROP TRIGGER audit_events_no_update"))
        s.execute(text("UPDATE audit_events SET action = 'nothing' WHERE seq = 1"))
    bad = cli.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "AUDIT TRAIL BROKEN" in bad.output


def test_agents_add_prints_a_token_that_the_api_accepts(harness: Harness, cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["agents", "add", "Noor Haddad", "noor@example.com", "--role", "lead", "--json"]
    )
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    assert added["roles"] == ["agent", "lead"]
    assert harness.api("GET", "/api/tickets", added["token"]).status_code == 200
    again = cli.invoke(main, ["agents", "add", "Noor", "NOOR@example.com"])
    assert again.exit_code == 1 and "exists already" in again.output
    listed = json.loads(cli.invoke(main, ["agents", "list", "--json"]).output)
    assert [a["email"] for a in listed] == ["noor@example.com"]


def test_a_bad_setting_stops_the_command_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_HTTP_PORT", "eighty")
    _refused_at_start(["tickets", "list"], "SWITCHBOARD_HTTP_PORT")


def test_a_shared_database_without_a_secret_key_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SWITCHBOARD_SECRET_KEY", raising=False)
    _refused_at_start(["tickets", "list"], "SWITCHBOARD_SECRET_KEY is required")


def test_separate_roles_refuse_the_in_process_broker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_BROKER_URL", "memory://")
    for role in ("worker", "clock", "web"):
        _refused_at_start([role], "SWITCHBOARD_BROKER_URL")


def _refused_at_start(args: list[str], naming: str) -> None:
    """The command stops with a usage error (exit 2) whose text says ``naming``."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert naming in result.output


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(SWITCHBOARD_[A-Z_]+)`", readme))
    missing = [name for name, _, _ in describe_settings() if name not in documented]
    assert not missing, f"add these settings to README.md's table: {missing}"


def test_contacts_link_show_and_unlink_as_an_operator_would(
    harness: Harness, cli: CliRunner
) -> None:
    harness.agent("Ana", email="ana@support.example")
    harness.fake.receive("rui-chat", "Gate 4 is stuck.", subject="Gate 4", sender_name="Rui")
    harness.settle()
    harness.fake.receive("rui-desk", "Monitor flickers.", subject="Monitor")
    harness.settle()
    # Linking: the second contact joins the first, as the agent named, with a reason
    linked = cli.invoke(
        main,
        [
            "contacts",
            "link",
            "C1",
            "fake:rui-desk",
            "--reason",
            "same badge number",
            "--as",
            "ana@support.example",
            "--json",
        ],
    )
    assert linked.exit_code == 0, linked.output
    data = json.loads(linked.output)
    assert data["id"] == "C-000001"
    assert {i["address"] for i in data["identities"]} == {"rui-chat", "rui-desk"}
    assert [t["number"] for t in data["tickets"]] == ["T-000002", "T-000001"]
    assert data["history"][0]["by"].startswith("agent:") and "Ana" in data["history"][0]["by"]
    # Shown by any of its addresses, in words
    shown = cli.invoke(main, ["contacts", "show", "fake:rui-desk"])
    assert shown.exit_code == 0, shown.output
    assert "fake:rui-chat" in shown.output and "T-000002" in shown.output
    assert "same badge number" in shown.output
    found = json.loads(cli.invoke(main, ["contacts", "list", "-q", "rui-d", "--json"]).output)
    assert [c["id"] for c in found["contacts"]] == ["C-000001"]
    # The ticket says where its next reply goes
    ticket = cli.invoke(main, ["tickets", "show", "T-000002"])
    assert "next reply by fake rui-desk" in ticket.output
    # Split again: the desk address goes back to its own contact with its ticket
    split = cli.invoke(main, ["contacts", "unlink", "C-000001", "fake:rui-desk", "--json"])
    assert split.exit_code == 0, split.output
    back = json.loads(split.output)["split_off"]
    assert back["id"] == "C-000002" and [t["number"] for t in back["tickets"]] == ["T-000002"]
    assert "system:operator" in json.dumps(json.loads(split.output)["contact"]["history"])
    # Mistakes are clear errors
    missing = cli.invoke(main, ["contacts", "link", "C-000001", "C-000099"])
    assert missing.exit_code == 1 and "no contact 'C-000099'" in missing.output
    same = cli.invoke(main, ["contacts", "link", "C-000001", "fake:rui-chat"])
    assert same.exit_code == 1 and "already that contact" in same.output
