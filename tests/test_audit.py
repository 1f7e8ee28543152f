"""The audit trail is append-only and any edit or deletion is found."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from core import audit
from core.tickets import conversation, lookup, workflow
from tests.harness import Harness, at_once


def _busy_history(h: Harness) -> None:
    agent, _ = h.agent("Ana")
    for n in range(3):
        h.fake.receive(f"client-{n}", f"Problem {n}", subject=f"Problem {n}")
    h.settle()
    with h.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 1, lock=True)
        workflow.acknowledge(h.ctx, s, agent, t)
        conversation.note(h.ctx, s, agent, t, text="looking")
    with h.ctx.db.transaction() as s:
        audit.checkpoint(s)


def _bypass_triggers(h: Harness, sql: str, **params: Any) -> None:
    """What an attacker with DDL rights could do: switch the guard off, then edit."""
    with h.ctx.db.transaction() as s:
        if h.ctx.db.is_postgres:
            s.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for verb in ("update", "delete"):
                s.execute(text(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}"))
        s.execute(text(sql), params)


def test_an_untouched_trail_verifies(harness: Harness) -> None:
    _busy_history(harness)
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert report.ok, report.problems
    assert report.chains == 3 and report.checkpoints == 1


def test_the_database_refuses_to_edit_or_delete_audit_events(harness: Harness) -> None:
    _busy_history(harness)
    for sql in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), harness.ctx.db.transaction() as s:
            s.execute(text(sql))


def test_an_edited_event_is_found(harness: Harness) -> None:
    _busy_history(harness)
    _bypass_triggers(
        harness,
        "UPDATE audit_events SET actor = 'system:nobody' WHERE chain = 'ticket:1' AND seq = 2",
    )
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert not report.ok
    assert any("ticket:1: event 2" in p and "edited" in p for p in report.problems), report.problems


def test_a_deleted_event_in_the_middle_of_a_chain_is_found(harness: Harness) -> None:
    _busy_history(harness)
    _bypass_triggers(harness, "DELETE FROM audit_events WHERE chain = 'ticket:1' AND seq = 2")
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert any("ticket:1: event 2 is missing" in p for p in report.problems), report.problems


def test_a_whole_deleted_chain_is_found_through_the_checkpoint(harness: Harness) -> None:
    _busy_history(harness)
    _bypass_triggers(harness, "DELETE FROM audit_events WHERE chain = 'ticket:2'")
    with harness.ctx.db.transaction() as s:
        s.execute(text("DELETE FROM audit_heads WHERE chain = 'ticket:2'"))
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert any("ticket:2" in p and "checkpoint" in p for p in report.problems), report.problems


def test_concurrent_changes_to_one_ticket_never_fork_its_chain(harness: Harness) -> None:
    agent, _ = harness.agent("Ana")
    harness.open_ticket("x", "y", ("fake", "c", ""))

    def notes() -> None:
        for i in range(10):
            with harness.ctx.db.transaction() as s:
                conversation.note(
                    harness.ctx, s, agent, lookup.get_ticket(s, 1, lock=True), text=f"note {i}"
                )

    at_once(notes, notes, notes)
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert report.ok, report.problems
    assert report.events >= 31
