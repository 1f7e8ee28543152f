"""Staff addresses per channel are rows: any staff channel, no schema change in core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from config.cli import main
from config.runtime import alembic_config
from core import staff
from core.errors import ActionRefused
from core.escalation import notify
from core.models import Agent
from tests.harness import Harness


def test_an_agent_has_one_address_per_channel_and_an_address_names_one_agent(
    harness: Harness,
) -> None:
    ana, _ = harness.agent("Ana")
    bo, _ = harness.agent("Bo")
    with harness.ctx.db.transaction() as session:
        agent = session.get(Agent, ana.agent_id)
        assert agent is not None
        staff.set_address(session, agent, "slack", "UANA")
        staff.set_address(session, agent, "telegram", "5551")
        staff.set_address(session, agent, "telegram", "5552")  # replaces the first
    with harness.ctx.db.transaction() as session:
        agent = session.get(Agent, ana.agent_id)
        assert agent is not None
        assert notify.addresses(agent) == {
            "email": "ana@support.example",
            "slack": "UANA",
            "telegram": "5552",
        }
        found = staff.agent_at(session, "telegram", "5552")
        assert found is not None and found.id == ana.agent_id
        assert staff.agent_at(session, "telegram", "5551") is None
        other = session.get(Agent, bo.agent_id)
        assert other is not None
        with pytest.raises(ActionRefused) as refused:
            staff.set_address(session, other, "slack", "UANA")
        assert refused.value.rule == "staff.address_taken"


def test_an_inactive_agent_is_not_found_by_address_unless_asked(harness: Harness) -> None:
    ana, _ = harness.agent("Ana")
    with harness.ctx.db.transaction() as session:
        agent = session.get(Agent, ana.agent_id)
        assert agent is not None
        staff.set_address(session, agent, "slack", "UANA")
        agent.active = False
    with harness.ctx.db.reading() as session:
        assert staff.agent_at(session, "slack", "UANA") is None
        assert staff.agent_at(session, "slack", "UANA", active=False) is not None


def test_agents_add_with_a_slack_user_lists_it_among_the_addresses(
    harness: Harness, cli: CliRunner
) -> None:
    added = cli.invoke(main, ["agents", "add", "Cy", "cy@example.com", "--slack-user", "UCY"])
    assert added.exit_code == 0, added.output
    listed = cli.invoke(main, ["agents", "list", "--json"])
    rows = json.loads(listed.output)
    assert [r["addresses"] for r in rows if r["email"] == "cy@example.com"] == [{"slack": "UCY"}]


def test_the_migration_carries_slack_and_telegram_addresses_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0004_slack")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agents (name, email, roles, slack_user_id, telegram_chat_id, "
                "preferences, active, created_at) VALUES ('Ana', 'ana@x.example', '[]', "
                "'UANA', '777', '{}', 1, '2026-11-30 10:00:00')"
            )
        )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT channel, address FROM staff_identities ORDER BY channel")
        ).all()
    assert [tuple(r) for r in rows] == [("slack", "UANA"), ("telegram", "777")]
    engine.dispose()
