"""Running the team: API tokens issued, listed and revoked; an agent deactivated;
preferences that decide where pings go; organizations whose tier picks the SLA
policy. Through the JSON API and the command line, each change audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from config.cli import main
from core.models import AuditEvent
from core.tickets import workflow
from tests.harness import Harness
from tests.sla_support import (
    FakeNow,
    act,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
)
from tests.test_escalation import pings


def system_audit(h: Harness) -> list[tuple[str, str, dict[str, Any]]]:
    with h.ctx.db.reading() as s:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.chain == "system").order_by(AuditEvent.seq)
        ).scalars()
        return [(e.actor, e.action, e.data) for e in rows]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_an_agent_issues_a_second_token_and_revokes_the_first(harness: Harness) -> None:
    ana, first = harness.agent("Ana")
    # When Ana issues herself a token for her laptop
    issued = ok(harness.api("POST", "/api/agents/me/tokens", first, json={"name": "laptop"}), 201)
    second = issued["token"]
    assert second.startswith("sbt_") and issued["hint"] == second[:8] + "…"
    # Then both work, and the list names them without showing either
    assert harness.api("GET", "/api/tickets", second).status_code == 200
    listed = ok(harness.api("GET", "/api/agents/me/tokens", second))["tokens"]
    assert [t["name"] for t in listed] == ["test", "laptop"]
    assert first not in json.dumps(listed) and second not in json.dumps(listed)
    # When she revokes the first one with the second
    revoked = ok(harness.api("DELETE", f"/api/tokens/{listed[0]['id']}", second))
    assert revoked["revoked_by"] == ana.label
    # Then the first is refused at once, the second still works
    refused = harness.api("GET", "/api/tickets", first)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert harness.api("GET", "/api/tickets", second).status_code == 200
    # And both changes are audited under her name
    actions = [(actor, action) for actor, action, _ in system_audit(harness)]
    assert (ana.label, "api_token_issued") in actions
    assert (ana.label, "api_token_revoked") in actions


def test_only_a_lead_manages_another_agents_tokens(harness: Harness) -> None:
    _, ana = harness.agent("Ana")
    ben, ben_token = harness.agent("Ben")
    _, lead = harness.agent("Lea", roles=("agent", "lead"))
    refused = harness.api("POST", f"/api/agents/{ben.agent_id}/tokens", ana, json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "agents.role"
    tokens = ok(harness.api("GET", "/api/agents/ben@support.example/tokens", lead))["tokens"]
    assert harness.api("DELETE", f"/api/tokens/{tokens[0]['id']}", ana).status_code == 403
    ok(harness.api("DELETE", f"/api/tokens/{tokens[0]['id']}", lead))
    assert harness.api("GET", "/api/tickets", ben_token).status_code == 401
    assert harness.api("DELETE", "/api/tokens/999999", lead).status_code == 404
    assert harness.api("DELETE", f"/api/tokens/{10**30}", lead).status_code == 422


def test_tokens_from_the_command_line(harness: Harness, cli: CliRunner) -> None:
    harness.agent("Ana")
    result = cli.invoke(main, ["tokens", "issue", "ana@support.example", "--name", "ci", "--json"])
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["token"]
    assert harness.api("GET", "/api/tickets", token).status_code == 200
    listed = json.loads(
        cli.invoke(main, ["tokens", "list", "ana@support.example", "--json"]).output
    )
    ci = next(t for t in listed if t["name"] == "ci")
    assert token not in json.dumps(listed)
    result = cli.invoke(main, ["tokens", "revoke", str(ci["id"])])
    assert result.exit_code == 0 and "revoked" in result.output, result.output
    assert harness.api("GET", "/api/tickets", token).status_code == 401
    assert ("system:cli", "api_token_revoked") in [(a, b) for a, b, _ in system_audit(harness)]
    # An agent added on the command line gets a first token that works
    added = cli.invoke(main, ["agents", "add", "Cy", "cy@support.example", "--json"])
    assert harness.api("GET", "/api/tickets", json.loads(added.output)["token"]).status_code == 200


def test_a_deactivated_agent_loses_access_pings_and_assignments(
    harness: Harness, now: FakeNow
) -> None:
    # Given Ana and Ben, both on the on-call rotation, and a lead
    ana, ana_token = staff(harness, "Ana")
    ben, ben_token = staff(harness, "Ben")
    _, lead = staff(harness, "Lea", roles=("agent", "lead"))
    lee = harness.agent("Lee", roles=("lead",))[0]
    first = open_ticket(harness, "P3")
    act(harness, first, workflow.escalate, lee, reason="client called")
    on_call = pings(harness, first)[0].recipient  # the on-call agent's pager
    who, token = (ana, ana_token) if on_call == "ana-pager" else (ben, ben_token)
    # An agent may not deactivate anyone
    other = ben_token if who is ana else ana_token
    assert harness.api("POST", f"/api/agents/{who.agent_id}/deactivate", other).status_code == 403
    # When the lead deactivates the on-call agent
    body = ok(
        harness.api("POST", f"/api/agents/{who.agent_id}/deactivate", lead, json={"reason": "left"})
    )
    assert body["active"] is False
    # Then their token is refused
    assert harness.api("GET", "/api/tickets", token).status_code == 401
    # And they can no longer be assigned
    second = open_ticket(harness, "P3")
    refused = harness.api(
        "POST", f"/api/tickets/{second}/assign", lead, json={"agent": str(who.agent_id)}
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "assign.inactive"
    # And an escalation no longer pings them
    act(harness, second, workflow.escalate, lee, reason="client called again")
    assert on_call not in [p.recipient for p in pings(harness, second)]
    # And it is audited; reactivating brings the token back
    assert ("agent_deactivated", {"agent": who.agent_id, "reason": "left"}) in [
        (a, d) for _, a, d in system_audit(harness)
    ]
    ok(harness.api("POST", f"/api/agents/{who.agent_id}/reactivate", lead))
    assert harness.api("GET", "/api/tickets", token).status_code == 200


def test_preferences_set_through_the_api_decide_where_pings_go(
    harness: Harness, now: FakeNow
) -> None:
    ana, token = staff(harness, "Ana")
    ben, ben_token = staff(harness, "Ben")
    lee = harness.agent("Lee", roles=("lead",))[0]
    # Both move their pager; a wrong entry is refused naming it, and changes nothing
    for who_token, name in ((token, "ana"), (ben_token, "ben")):
        bad = harness.api(
            "PATCH", "/api/agents/me/preferences", who_token, json={"channels": ["pigeon"]}
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "field.preferences.channels"
        body = ok(
            harness.api(
                "PATCH",
                "/api/agents/me/preferences",
                who_token,
                json={"channels": ["fake"], "addresses": {"fake": f"{name}-new-pager"}},
            )
        )
        assert body["preferences"]["addresses"] == {"fake": f"{name}-new-pager"}
    bad = harness.api(
        "PATCH",
        "/api/agents/me/preferences",
        token,
        json={"quiet_hours": {"start": "25:00", "end": "07:00"}},
    )
    assert bad.status_code == 422 and "25:00" in bad.json()["error"]["message"]
    ticket = open_ticket(harness, "P3")
    act(harness, ticket, workflow.escalate, lee, reason="client called")
    assert pings(harness, ticket)[0].recipient in ("ana-new-pager", "ben-new-pager")
    assert any(a == "agent_preferences" for _, a, _ in system_audit(harness))


def test_preferences_from_the_command_line(harness: Harness, cli: CliRunner) -> None:
    harness.agent("Ana")
    result = cli.invoke(
        main,
        [
            "agents",
            "preferences",
            "ana@support.example",
            "--channels",
            "fake,email",
            "--address",
            "fake=ana-pager",
            "--quiet-hours",
            "22:00-07:00",
            "--timezone",
            "Europe/Paris",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["preferences"] == {
        "channels": ["fake", "email"],
        "addresses": {"fake": "ana-pager"},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Paris"},
    }
    result = cli.invoke(main, ["agents", "preferences", "ana@support.example", "--timezone", "X"])
    assert result.exit_code == 0  # --timezone alone changes nothing
    bad = cli.invoke(main, ["agents", "preferences", "1", "--quiet-hours", "22:00-22:00"])
    assert bad.exit_code == 1 and "same time" in bad.output
    cleared = cli.invoke(main, ["agents", "preferences", "1", "--clear", "quiet_hours", "--json"])
    assert "quiet_hours" not in json.loads(cleared.output)["preferences"]


def test_an_organizations_tier_picks_the_sla_policy_of_its_open_tickets(
    harness: Harness, now: FakeNow
) -> None:
    # Given a P2 ticket from a client in no organization: the P2 policy
    _, lead = harness.agent("Lea", roles=("agent", "lead"))
    _, agent = harness.agent("Ana")
    ticket = open_ticket(harness, "P2", address="plant-7")
    assert harness.ticket(ticket)["sla"]["policy"] == "P2"
    # When a lead adds an organization on the premium contract and puts the client in it
    assert harness.api("POST", "/api/organizations", agent, json={"name": "X"}).status_code == 403
    org = ok(
        harness.api(
            "POST",
            "/api/organizations",
            lead,
            json={"name": "Acme Plastics", "tier": "premium", "email_domain": "acme.example"},
        ),
        201,
    )
    assert org["tier"] == "premium"
    moved = ok(
        harness.api(
            "PUT",
            "/api/contacts/fake:plant-7/organization",
            lead,
            json={"organization": "acme plastics"},
        )
    )
    # Then the open ticket follows: the premium rule's policy, its response target 30 min
    assert moved["tickets_moved"] == [f"T-{ticket:06d}"]
    shown = harness.ticket(ticket)
    assert shown["sla"]["policy"] == "premium contract"
    assert shown["client"]["organization"] == "Acme Plastics"
    assert shown["sla"]["response_due_at"] == (now() + timedelta(minutes=30)).isoformat()
    # When the tier changes back, so does the policy; each change audited on the ticket
    changed = ok(
        harness.api("PATCH", f"/api/organizations/{org['id']}", lead, json={"tier": "standard"})
    )
    assert changed["tickets_moved"] == [f"T-{ticket:06d}"]
    assert harness.ticket(ticket)["sla"]["policy"] == "P2"
    audit = [e["action"] for e in harness.ticket(ticket)["audit"]]
    assert audit.count("sla_policy") == 2
    # A wrong tier or a taken domain is refused, naming it
    bad = harness.api("PATCH", f"/api/organizations/{org['id']}", lead, json={"tier": "Gold!"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "field.tier"
    taken = harness.api(
        "POST", "/api/organizations", lead, json={"name": "Other", "email_domain": "ACME.example"}
    )
    assert taken.status_code == 409
    assert "acme plastics" in taken.json()["error"]["message"].lower()
    # (a tier is shared by many)
    ok(
        harness.api("POST", "/api/organizations", lead, json={"name": "Beta", "tier": "standard"}),
        201,
    )
    # And a first-time sender from its domain joins it, and gets its policy
    mail = harness.open_ticket(requester=("email", "bo@acme.example", "Bo"), priority="P2")
    shown = harness.ticket(mail)
    assert shown["client"]["organization"] == "Acme Plastics"
    assert shown["sla"]["policy"] == "P2"  # (the tier is standard now)


def test_organizations_from_the_command_line(harness: Harness, cli: CliRunner) -> None:
    open_ticket(harness, "P3", address="plant-9")
    added = cli.invoke(main, ["organizations", "add", "Beta Foods", "--tier", "premium", "--json"])
    assert added.exit_code == 0, added.output
    member = cli.invoke(main, ["organizations", "member", "fake:plant-9", "Beta Foods"])
    assert member.exit_code == 0 and "SLA policy changed on T-000001" in member.output
    assert harness.ticket(1)["sla"]["policy"] == "premium contract"
    out = cli.invoke(main, ["organizations", "update", "beta foods", "--tier", "basic"]).output
    assert "T-000001" in out and harness.ticket(1)["sla"]["policy"] == "P3"
    listed = json.loads(cli.invoke(main, ["organizations", "list", "--json"]).output)
    assert [(o["name"], o["tier"]) for o in listed] == [("Beta Foods", "basic")]
    assert ("system:cli", "organization_changed") in [(a, b) for a, b, _ in system_audit(harness)]
