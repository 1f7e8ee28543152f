"""Every ticket action from the command line, as a named agent, through the same
core actions as the API: what each does shows on the ticket, in its audit trail
under the agent's name, and a refusal names its rule."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from config.cli import main
from tests.harness import Harness


def run(cli: CliRunner, *args: str, ok: bool = True) -> Any:
    result = cli.invoke(main, ["tickets", *args, "--json"])
    if ok:
        assert result.exit_code == 0, result.output
        return json.loads(result.output)
    assert result.exit_code != 0, result.output
    return result.output


def test_an_agent_works_a_ticket_from_open_to_closed_on_the_command_line(
    harness: Harness, cli: CliRunner
) -> None:
    # Given a ticket, a lead and an agent
    harness.agent("Lea", roles=("agent", "lead"), email="lea@support.example")
    ana, _ = harness.agent("Ana", email="ana@support.example")
    number = f"T-{harness.open_ticket(subject='Press 3 leaking'):06d}"
    other = f"T-{harness.open_ticket(subject='Press 3 leaking again'):06d}"
    as_ana = ("--as", "ana@support.example")

    # When Ana takes each action in turn, each answer is the ticket as it is now
    assert run(cli, "acknowledge", number, *as_ana)["status"] == "acknowledged"
    assert run(cli, "assign", number, "me", *as_ana)["assignee"] == "Ana"
    assert run(cli, "start", number, *as_ana)["status"] == "in_progress"
    t = run(cli, "reply", number, "We are on our way.", *as_ana)
    assert t["thread"][-1]["text"] == "We are on our way."
    assert t["thread"][-1]["kind"] == "public"
    # (the reply is queued to the client on their channel)
    assert [(d["kind"], d["channel"]) for d in t["deliveries"]][-1] == ("reply", "fake")
    t = run(cli, "note", number, "Spare valve in van 2.", *as_ana)
    assert t["thread"][-1]["kind"] == "internal"
    assert (
        run(cli, "priority", number, "P2", "--reason", "line stopped", *as_ana)["priority"] == "P2"
    )
    assert run(cli, "category", number, "hardware", *as_ana)["category"] == "hardware"
    assert run(cli, "queue", number, "field-service", *as_ana)["queue"] == "field-service"
    t = run(cli, "links", number, "--asset", "PRESS-3", "--site", "PLANT-N", *as_ana)
    assert t["links"]["asset"] == "PRESS-3" and t["links"]["site"] == "PLANT-N"
    # (a time to look at it again must be a time, and ahead; a naive one is UTC)
    assert "not an ISO date" in run(
        cli,
        "hold",
        number,
        "--reason",
        "other",
        "--note",
        "x",
        "--until",
        "soon",
        *as_ana,
        ok=False,
    )
    hold = ("hold", number, "--reason", "pending_parts", "--parts-ref", "PO-77", *as_ana)
    assert "hold.until" in run(cli, *hold, "--until", "2001-01-01", ok=False)
    t = run(cli, *hold, "--until", "2031-05-05T09:00")
    assert t["status"] == "on_hold" and t["hold"]["parts_ref"] == "PO-77"
    assert t["hold"]["until"] == "2031-05-05T09:00:00+00:00"
    assert run(cli, "resume", number, *as_ana)["status"] == "in_progress"
    t = run(cli, "escalate", number, "--reason", "customer line stopped", *as_ana)
    assert t["escalated"] is True and t["sla"]["escalation"]["status"] == "active"
    t = run(cli, "ack-escalation", number, *as_ana)
    assert t["sla"]["escalation"]["status"] == "acknowledged"
    t = run(cli, "merge", other, number, "--as", "lea@support.example")
    assert t["merged_into"] == number
    t = run(cli, "resolve", number, "--code", "fixed", "--steps", "Replaced valve.", *as_ana)
    assert t["status"] == "resolved" and t["resolutions"][0]["code"] == "fixed"
    assert run(cli, "reopen", number, "--reason", "leaks again", *as_ana)["status"] != "resolved"
    run(cli, "resolve", number, "--code", "fixed", "--steps", "Tightened.", *as_ana)
    assert run(cli, "close", number, *as_ana)["status"] == "closed"

    # Then the audit trail names Ana (by her agent id) for each of her actions
    audit = harness.ticket(number)["audit"]
    mine = [e["action"] for e in audit if e["actor"] == f"agent:{ana.agent_id}:Ana"]
    for action in ("acknowledge", "assign", "start", "reply", "note", "hold", "resume"):
        assert action in mine, (action, mine)


def test_a_refused_action_names_the_rule_and_changes_nothing(
    harness: Harness, cli: CliRunner
) -> None:
    harness.agent("Ana", email="ana@support.example")
    number = f"T-{harness.open_ticket():06d}"
    # Resolving a new ticket without steps: refused before anything is written
    out = run(cli, "resume", number, "--as", "ana@support.example", ok=False)
    assert "lifecycle.state" in out
    assert harness.ticket(number)["status"] == "new"
    # An unknown agent, an unknown ticket, an unknown priority
    assert "no agent" in run(cli, "acknowledge", number, "--as", "nobody@x.example", ok=False)
    assert "does not exist" in run(
        cli, "acknowledge", "T-999999", "--as", "ana@support.example", ok=False
    )
    assert "P9" in run(cli, "priority", number, "P9", "--as", "ana@support.example", ok=False)
    # --as is required: no action is anonymous
    assert "--as" in run(cli, "acknowledge", number, ok=False)


def test_a_lead_overrides_a_rule_with_a_written_reason(harness: Harness, cli: CliRunner) -> None:
    harness.agent("Lea", roles=("agent", "lead"), email="lea@support.example")
    number = f"T-{harness.open_ticket():06d}"
    # A new ticket cannot be resumed; a lead may, with a reason, kept as evidence
    t = run(
        cli,
        "resume",
        number,
        "--as",
        "lea@support.example",
        "--override-reason",
        "client confirmed by phone",
    )
    assert t["overrides"][0]["reason"] == "client confirmed by phone"


def test_an_inactive_agent_cannot_act(harness: Harness, cli: CliRunner) -> None:
    harness.agent("Ana", email="ana@support.example")
    number = f"T-{harness.open_ticket():06d}"
    result = cli.invoke(main, ["agents", "deactivate", "ana@support.example", "--reason", "left"])
    assert result.exit_code == 0, result.output
    out = run(cli, "acknowledge", number, "--as", "ana@support.example", ok=False)
    assert "not an active agent" in out
