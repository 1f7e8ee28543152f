"""Refusals a person can act on: each names what was wrong and what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.cli import main
from tests.harness import Harness, process_env

ROOT = Path(__file__).resolve().parent.parent
OPEN = {
    "subject": "Scanner offline",
    "text": "Handheld scanner 12 does not connect.",
    "requester": {"channel": "fake", "address": "dock-3", "name": "Mo"},
}


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "bearer    ", "Basic abc"])
def test_an_empty_or_other_authorization_is_a_401_saying_what_to_send(
    harness: Harness, header: str
) -> None:
    response = harness.client.get("/api/tickets", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "Bearer <token>" in response.json()["error"]["message"]


def test_a_body_that_fails_the_schema_names_the_field_in_its_code(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    del_subject = {k: v for k, v in OPEN.items() if k != "subject"}
    missing = harness.api("POST", "/api/tickets", token, json=del_subject)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "field.subject"
    assert missing.json()["error"]["message"] == "subject is required"
    nested = harness.api(
        "POST", "/api/tickets", token, json={**OPEN, "requester": {"channel": "fake"}}
    )
    assert nested.json()["error"]["code"] == "field.requester.address"
    wrong = harness.api("POST", "/api/tickets", token, json={**OPEN, "priority": "P9"})
    error = wrong.json()["error"]
    assert error["code"] == "field.priority"
    assert "'P1', 'P2', 'P3' or 'P4'" in error["message"]
    assert error["problems"][0]["field"] == "priority"
    garbled = harness.client.post(
        "/api/tickets",
        content=b"{not json",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert garbled.status_code == 422
    assert garbled.json()["error"]["code"] == "body.json"
    assert harness.tickets()["total"] == 0


def test_an_unknown_query_parameter_is_refused_naming_the_ones_taken(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    response = harness.api("GET", "/api/tickets?stauts=new", token)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "query.unknown"
    assert "'stauts'" in error["message"] and "status" in error["message"]
    assert harness.api("GET", "/api/assets?priority=P1", token).status_code == 422
    assert harness.api("GET", "/api/contacts?limit=5", token).status_code == 200


def test_a_filter_value_that_cannot_match_is_refused_with_the_values_it_takes(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    harness.api("POST", "/api/tickets", token, json=OPEN)
    empty = harness.api("GET", "/api/tickets?asset=", token)
    assert empty.status_code == 422
    assert empty.json()["error"] == {
        "code": "query.asset",
        "message": "asset is empty: give an asset tag, or leave it out",
        "overridable": False,
    }
    status = harness.api("GET", "/api/tickets?status=new,bogus", token).json()["error"]
    assert status["code"] == "query.status"
    assert "'bogus'" in status["message"] and "new, acknowledged" in status["message"]
    priority = harness.api("GET", "/api/tickets?priority=P7", token).json()["error"]
    assert priority["code"] == "query.priority" and "P1, P2, P3, P4" in priority["message"]
    queue = harness.api("GET", "/api/tickets?queue=nowhere", token).json()["error"]
    assert queue["code"] == "query.queue" and "field-service" in queue["message"]
    limit = harness.api("GET", "/api/tickets?limit=0", token).json()["error"]
    assert limit["code"] == "query.limit" and "query parameter limit" in limit["message"]
    orders = harness.api("GET", "/api/work-orders?status=done", token).json()["error"]
    assert orders["code"] == "query.status" and "open, closed" in orders["message"]
    # Good values still list
    listed = harness.api("GET", "/api/tickets?status=new,acknowledged&priority=P1,P2,P3,P4", token)
    assert listed.status_code == 200 and listed.json()["total"] == 1


def test_only_a_lead_is_told_a_refusal_is_overridable(harness: Harness) -> None:
    _, agent = harness.agent("Ana")
    _, lead = harness.agent("Lee", roles=("agent", "lead"))
    harness.api("POST", "/api/tickets", agent, json=OPEN)
    # When an agent and a lead both try to resume a ticket that is not on hold
    as_agent = harness.api("POST", "/api/tickets/T-000001/resume", agent).json()["error"]
    as_lead = harness.api("POST", "/api/tickets/T-000001/resume", lead).json()["error"]
    # Then only the lead hears it can be overridden, and how
    assert as_agent["code"] == as_lead["code"] == "lifecycle.state"
    assert as_agent["overridable"] is False
    assert "only a lead may override" in as_agent["message"]
    assert as_lead["overridable"] is True
    assert "override_reason" in as_lead["message"]


def test_the_cli_refuses_a_status_filter_that_does_not_exist(
    harness: Harness,
    cli: CliRunner,
) -> None:
    outbox = cli.invoke(main, ["outbox", "list", "--status", "bogus"])
    assert outbox.exit_code == 2
    assert "--status" in outbox.output and "'bogus'" in outbox.output
    assert "pending" in outbox.output
    tickets = cli.invoke(main, ["tickets", "list", "--status", "bogus"])
    assert tickets.exit_code == 1
    assert "unknown status 'bogus': use one of new" in tickets.output


def _switchboard(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from config.cli import main; main()", *args],
        cwd=cwd,
        env=process_env({"PYTHONPATH": str(ROOT), **env}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_run_elsewhere_or_before_migrate_says_what_to_run_and_creates_nothing(
    tmp_path: Path,
) -> None:
    # Run from a directory with no Switchboard in it
    result = _switchboard(tmp_path, "tickets", "list")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no Switchboard database at" in lines[0]
    assert "switchboard migrate" in lines[0] and "SWITCHBOARD_DATA_DIR" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists(), "nothing is created where it was run"


def test_the_cli_on_a_database_never_migrated_says_to_migrate(
    database_url: str, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    result = _switchboard(
        tmp_path,
        "contacts",
        "list",
        SWITCHBOARD_DATABASE_URL=database_url,
        SWITCHBOARD_SECRET_KEY="test-secret",
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("run `switchboard migrate`"), result.stderr
    assert "empty (no schema)" in result.stderr and "Traceback" not in result.stderr
