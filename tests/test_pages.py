"""The tracking page, opened in a real browser as a client would."""

from __future__ import annotations

from pathlib import Path

from core import actions
from tests.browser import render, serve
from tests.harness import Harness


def test_the_tracking_link_shows_status_and_public_replies_but_never_notes(
    harness: Harness, tmp_path: Path
) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive(
        "client-1",
        "The <b>badge</b> reader beeps twice.",
        subject="Badge reader",
        sender_name="Lia",
    )
    harness.settle()
    with harness.ctx.db.transaction() as s:
        t = actions.get_ticket(s, 1, lock=True)
        actions.acknowledge(harness.ctx, s, agent, t)
        actions.note(harness.ctx, s, agent, t, text="INTERNAL: client broke it herself")
        actions.reply(harness.ctx, s, agent, t, text="Please hold the card flat for two seconds.")
        actions.hold(harness.ctx, s, agent, t, reason="waiting_on_client")
    link = harness.ticket(1)["tracking_link"]
    with serve(harness.ctx) as base:
        url = base + link[link.index("/t/") :]
        dom = render(url, screenshot=tmp_path / "tracking.png")
        missing = render(base + "/t/not-a-real-token-at-all")
    assert "T-000001" in dom and "Badge reader" in dom
    assert "On hold: waiting for your answer" in dom
    assert "Please hold the card flat for two seconds." in dom
    assert "INTERNAL" not in dom, "internal notes never reach the client"
    assert "&lt;b&gt;badge&lt;/b&gt;" in dom, "what the client wrote is escaped, not rendered"
    assert "does not lead to a ticket" in missing
    assert (tmp_path / "tracking.png").stat().st_size > 1000
