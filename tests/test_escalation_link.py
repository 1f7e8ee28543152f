"""The acknowledgement link in an escalation ping, opened in a real browser.

On-call staff pinged by email (or any channel without a button) acknowledge from a
signed link: opening it only shows the page; its button stops the chain.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from itsdangerous.timed import TimestampSigner

from core.models import Agent
from core.sla import watch as slawatch
from core.tickets import lookup, workflow
from tests.browser import render, serve
from tests.harness import Harness
from tests.sla_support import (
    FakeNow,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
    wait_until,
)
from tests.test_escalation import audit_actions, escalations

LINK = re.compile(r"https?://\S+/e/ack/\S+")


def breach(harness: Harness, now: FakeNow) -> tuple[int, str]:
    """A P1 past its deadline: Ben (on call) gets the first ping; returns (ticket, link)."""
    staff(harness, "Ben")
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    now.advance(hours=3)
    assert slawatch.tick(harness.ctx) == 1
    wait_until(lambda: "escalation_step" in audit_actions(harness, ticket))
    harness.settle()
    (ping,) = [m for m in harness.sent() if m["kind"] == "escalation"]
    assert ping["recipient"] == "ben-pager"
    links = LINK.findall(ping["text"])
    assert len(links) == 1, ping["text"]
    return ticket, links[0]


def test_the_link_in_a_ping_opens_a_page_whose_button_acknowledges_as_that_agent(
    harness: Harness, now: FakeNow, tmp_path: Path
) -> None:
    ticket, link = breach(harness, now)
    path = link[link.index("/e/ack/") :]
    with serve(harness.ctx) as base:
        # Opening the link (as a mail preview or scanner would) changes nothing
        page = render(base + path, screenshot=tmp_path / "ack.png")
        assert "T-000001" in page and "Line 2 is down" in page and ">Acknowledge</button>" in page
        assert "assigned to you if nobody has it yet" in page
        assert escalations(harness, ticket)[0].status == "active"
        # The button posts the acknowledgement, and the page then says who acknowledged
        answer = httpx.post(base + path, follow_redirects=True)
        assert answer.status_code == 200
        (esc,) = escalations(harness, ticket)
        assert esc.status == "acknowledged"
        assert esc.acknowledged_by is not None and esc.acknowledged_by.endswith(":Ben")
        assert "escalation_acknowledged" in audit_actions(harness, ticket)
        # As the page promised, the ticket is Ben's now: acknowledged, and assigned to him
        shown = harness.ticket(ticket)
        assert shown["status"] == "assigned" and shown["assignee"] == "Ben"
        trail = audit_actions(harness, ticket)
        assert trail.index("acknowledge") < trail.index("assign")
        after = render(base + path)
        assert "Acknowledged" in after and "by Ben" in after and "<button" not in after
        # Pressing again (a second tab) does no harm and says the same
        again = httpx.post(base + path, follow_redirects=True)
        assert again.status_code == 200 and "by Ben" in again.text
    assert (tmp_path / "ack.png").stat().st_size > 1000


def test_a_forged_expired_or_revoked_link_acknowledges_nothing(
    harness: Harness, now: FakeNow, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket, link = breach(harness, now)
    path = link[link.index("/e/ack/") :]
    (esc,) = escalations(harness, ticket)
    with serve(harness.ctx) as base:
        # A token whose signature was changed (its first character: the last one may
        # carry only padding bits, which base64 decoding ignores)
        payload, stamp, signature = path.rsplit("/", 1)[1].split(".")
        swapped = ("B" if signature[0] == "A" else "A") + signature[1:]
        forged = f"/e/ack/{payload}.{stamp}.{swapped}"
        assert httpx.post(base + forged).status_code == 404
        assert "not valid" in httpx.get(base + forged).text
        # A link older than a day
        real = time.time
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(real()) - 25 * 3600)
        old = harness.ctx.ack_link(esc.id, esc_agent_id(harness))
        monkeypatch.undo()
        assert httpx.post(base + old[old.index("/e/ack/") :]).status_code == 404
        # The agent it was sent to has left
        with harness.ctx.db.transaction() as s:
            for agent in s.query(Agent).filter(Agent.name == "Ben"):
                agent.active = False
        assert httpx.post(base + path).status_code == 404
    assert escalations(harness, ticket)[0].status == "active", "nothing acknowledged it"


def test_a_link_to_a_finished_escalation_does_not_acknowledge_a_later_one(
    harness: Harness, now: FakeNow
) -> None:
    ticket, link = breach(harness, now)
    path = link[link.index("/e/ack/") :]
    ana, ana_token = staff(harness, "Ana", roles=("agent", "lead"))
    # The first chain is acknowledged elsewhere; later the ticket is escalated again by hand
    response = harness.api("POST", "/api/tickets/T-000001/escalation/ack", ana_token)
    assert response.status_code == 200, response.text
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, ticket, lock=True)
        workflow.escalate(harness.ctx, s, ana, t, reason="customer called again")
    assert [e.status for e in escalations(harness, ticket)] == ["acknowledged", "active"]
    with serve(harness.ctx) as base:
        answer = httpx.post(base + path, follow_redirects=True)
    assert answer.status_code == 200 and "by Ana" in answer.text
    assert [e.status for e in escalations(harness, ticket)] == ["acknowledged", "active"]


def esc_agent_id(harness: Harness) -> int:
    with harness.ctx.db.reading() as s:
        return int(s.query(Agent.id).filter(Agent.name == "Ben").scalar())
