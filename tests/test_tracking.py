"""The tracking page and its link, as a client meets them: in a real browser where a
person would click, through the app's HTTP interface for the moments of a ticket's
life."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from config.cli import main
from core.models import Agent
from core.tickets import conversation, lookup, workflow
from core.tokens import form_token, tracking_link_token
from tests.browser import serve
from tests.cdp import Browser
from tests.harness import Harness
from tests.sla_support import FakeNow

PUBLIC = re.compile(r"/t/[^\s\"'<>#?]+")


def path_of(link: str) -> str:
    found = PUBLIC.search(link)
    assert found, link
    return found.group(0)


def client_ticket(harness: Harness, subject: str = "Badge reader", name: str = "Lia") -> str:
    """A client writes in on the fake channel; the ticket's number."""
    harness.fake.receive(
        "client-1", "The badge reader beeps twice.", subject=subject, sender_name=name
    )
    harness.settle()
    return harness.only_ticket_number()


def page(harness: Harness, link: str, **params: str) -> httpx.Response:
    return harness.client.get(path_of(link), params=params)


def test_a_client_reads_status_and_promise_in_their_zone_and_replies_from_the_page(
    harness: Harness, tmp_path: Path
) -> None:
    # Given a ticket the client wrote in by chat, and an agent called Dana Whitfield
    number = client_ticket(harness)
    lead, _ = harness.agent("Dana Whitfield", roles=("agent", "lead"))
    link = harness.ticket(number)["tracking_link"]
    with serve(harness.ctx) as base, Browser(tmp_path / "shots", timezone="Asia/Tokyo") as b:
        # When the client opens the link (their browser is in Tokyo)
        b.open(base + path_of(link))
        # Then they read the state and the promise in plain words, times in their zone
        assert b.text("#number") == number and b.text("#subject") == "Badge reader"
        assert b.text("#status") == "Received, waiting for review"
        assert b.text("#promise").startswith("We aim to answer by")
        assert (
            b.text("#zone-name") == "Asia/Tokyo"
            and b.js("document.getElementById('tz').value") == "Asia/Tokyo"
        )
        due = harness.ticket(number)["sla"]["response_due_at"]
        assert b.js("document.querySelector('#promise time').getAttribute('datetime')").startswith(
            due[:16]
        )
        # (the time it was received, in Tokyo, as the browser writes times: 24 or 12 hours)
        received = datetime.fromisoformat(harness.ticket(number)["created_at"])
        tokyo = received.astimezone(ZoneInfo("Asia/Tokyo"))
        timeline = b.text("#timeline")
        assert tokyo.strftime("%H:%M") in timeline or tokyo.strftime("%I:%M %p") in timeline, (
            tokyo,
            timeline,
        )
        assert "P3" not in b.text("body"), "a priority code means nothing to a client"
        b.screenshot(tmp_path / "tracking.png")

        # When Dana takes the ticket
        with harness.ctx.db.transaction() as s:
            t = lookup.get_ticket(s, number, lock=True)
            workflow.assign(harness.ctx, s, lead, t, assignee=_agent(s, lead.agent_id))
        b.open(base + path_of(link))
        assert b.text("#status") == "Assigned to Dana, who is working on it"
        assert b.text("#assignee") == "Dana", "first name only"
        assert "Assigned to Dana" in b.text("#timeline")
        assert b.text("#promise").startswith("We answered"), "taking it answered the promise"

        # When the client writes from the page, with the keyboard only
        b.fill("#text", "It also beeps at the back door.")
        b.click("#send")
        assert b.text("#notice").startswith("Thank you")
        assert "It also beeps at the back door." in b.text(".thread")
        assert b.text("#zone-name") == "Asia/Tokyo", "the zone stays after sending"
    harness.settle()
    thread = harness.ticket(number)["thread"]
    last = thread[-1]
    # Then it is on the ticket exactly as if it came by the client's own channel
    assert (last["direction"], last["kind"], last["channel"]) == ("in", "public", "fake")
    assert last["text"] == "It also beeps at the back door."


def _agent(session: Session, agent_id: int | None) -> Agent:
    return session.get_one(Agent, agent_id)


def _reply_form(harness: Harness, link: str) -> dict[str, str]:
    return _reply_form_fields(page(harness, link).text)


def _reply_form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the reply form on a tracking page."""
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("csrf", "form_key", "tz")
    }


def test_the_same_reply_form_sent_twice_adds_one_message_and_a_forged_one_none(
    harness: Harness,
) -> None:
    number = client_ticket(harness)
    link = harness.ticket(number)["tracking_link"]
    form = {**_reply_form(harness, link), "text": "Sent twice by a double click."}
    for _ in range(2):
        response = harness.client.post(path_of(link) + "/reply", data=form, follow_redirects=False)
        assert response.status_code == 303
    texts = [m["text"] for m in harness.ticket(number)["thread"]]
    assert texts.count("Sent twice by a double click.") == 1
    # A form whose anti-forgery token is not this ticket's adds nothing
    forged = {**form, "form_key": "another", "csrf": "0" * 16}
    response = harness.client.post(path_of(link) + "/reply", data=forged, follow_redirects=False)
    assert response.status_code == 404 and "Badge reader" not in response.text
    # An empty message is refused, naming what to do, and nothing is added
    empty = {**form, "form_key": "third", "text": "  "}
    response = harness.client.post(path_of(link) + "/reply", data=empty, follow_redirects=False)
    assert response.status_code == 422 and "Please write your message" in response.text
    assert len(harness.ticket(number)["thread"]) == len(texts)


def test_the_promise_is_true_at_every_moment_and_the_history_shows_every_public_step(
    harness: Harness, now: FakeNow
) -> None:
    # Given a P1 ticket (answer within 15 minutes, around the clock)
    harness.fake.receive(
        "client-1", "Packing line 2 is down.", subject="Line down", sender_name="Lia"
    )
    harness.settle()
    number = harness.only_ticket_number()
    lead, _ = harness.agent("Dana Whitfield", roles=("agent", "lead"))
    link = harness.ticket(number)["tracking_link"]
    due = harness.ticket(number)["sla"]["response_due_at"]

    def promise() -> str:
        html = page(harness, link).text
        found = re.search(r'<ul class="promises" id="promise">(.*?)</ul>', html, re.S)
        return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""

    assert "We aim to answer by" in promise() and due[11:16] in promise()
    # When the promised time passes without an answer
    now.advance(minutes=16)
    assert "We promised an answer by" in promise() and "We are late: sorry." in promise()
    assert "We aim" not in promise(), "never a promise in the past"
    # When the breach escalates it, the escalation notice's promise shows (news within 60 min)
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        workflow.escalate(harness.ctx, s, lead, t, reason="response breached")
    news = (now() + timedelta(minutes=60)).strftime("%H:%M")
    assert "you will hear from us by" in promise() and news in promise()
    now.advance(minutes=61)
    assert "we owed you news by" in promise()
    # A public reply is news: the promise runs from it again
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        conversation.reply(harness.ctx, s, lead, t, text="We are on site in ten minutes.")
        workflow.acknowledge(harness.ctx, s, lead, t)
    assert "later than we promised" in promise() and "you will hear from us by" in promise()
    # On hold for a part, to be looked at again at a given time
    until = now() + timedelta(days=2)
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        workflow.hold(
            harness.ctx, s, lead, t, reason="pending_parts", parts_ref="PO-7", until=until
        )
    html = page(harness, link).text
    assert 'id="status">On hold: waiting for a part<' in html
    assert "our clock is paused" in promise() and until.strftime("%H:%M") in promise()
    # Resolved: what was done, and the way to say it is not fixed
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        workflow.resume(harness.ctx, s, lead, t)
        workflow.resolve(harness.ctx, s, lead, t, code="fixed", steps="Replaced the drive belt.")
    html = page(harness, link).text
    assert 'id="status">Resolved: here is what we did<' in html
    assert "Replaced the drive belt." in html and 'href="#reply"' in html
    assert "Resolved" in promise()
    # The client says it is not fixed from the page: the ticket reopens
    form = {**_reply_form(harness, link), "text": "Still stopping every hour."}
    assert harness.client.post(path_of(link) + "/reply", data=form).status_code == 200
    assert harness.ticket(number)["status"] == "acknowledged", "reopened by the client's message"
    shown = re.search(r'id="timeline">(.*?)</ol>', page(harness, link).text, re.S)
    assert shown is not None, "the page has a timeline"
    timeline = re.sub(r"<[^>]+>", "", shown.group(1))
    for step in (
        "Request received",
        "Escalated to the person on call",
        "Put on hold: waiting for a part",
        "Work resumed",
        "Resolved",
        "Reopened",
    ):
        assert step in timeline, step


def test_the_client_is_told_when_assigned_on_hold_resolved_and_reopened(
    harness: Harness,
) -> None:
    # (a whole life in a minute earns more automatic messages than the hourly cap allows)
    harness.ctx.auto_reply_limit_per_hour = 10
    number = client_ticket(harness)
    lead, _ = harness.agent("Dana Whitfield", roles=("agent", "lead"))
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        workflow.assign(harness.ctx, s, lead, t, assignee=_agent(s, lead.agent_id))
        workflow.start(harness.ctx, s, lead, t)
        workflow.hold(harness.ctx, s, lead, t, reason="pending_parts", parts_ref="PO-7")
        workflow.resume(harness.ctx, s, lead, t)
        workflow.resolve(harness.ctx, s, lead, t, code="fixed", steps="Cleaned the card reader.")
        workflow.reopen(harness.ctx, s, lead, t, reason="it beeps again")
    harness.settle()
    sent = {m["kind"]: m for m in harness.sent()}
    # (worker threads deliver them side by side: the order queued is the outbox's)
    assert [d["kind"] for d in harness.ticket(number)["deliveries"]] == [
        "ack",
        "assigned",
        "on_hold",
        "resolved",
        "satisfaction",
        "reopened",
    ]
    assert all(m["recipient"] == "client-1" and m["channel"] == "fake" for m in harness.sent())
    assert "now with Dana, who is working on it" in sent["assigned"]["text"]
    assert "Whitfield" not in sent["assigned"]["text"]
    assert "on hold: waiting for a part" in sent["on_hold"]["text"]
    assert "as soon as the part arrives" in sent["on_hold"]["text"]
    resolved = sent["resolved"]["text"]
    assert "Cleaned the card reader." in resolved and "Not fixed?" in resolved
    assert path_of(resolved) and "#reply" in resolved
    assert "reopened" in sent["reopened"]["text"]


def test_an_email_client_is_told_by_email_with_the_email_wording(harness: Harness) -> None:
    from tests.email_support import outgoing
    from tests.test_contacts import mail_text

    lead, token = harness.agent("Dana Whitfield", roles=("agent", "lead"))
    response = harness.open_by_api(token, "email", "lia@example.com", "Printer jam", "It jams.")
    number = response.json()["number"]
    assert (
        harness.api(
            "POST", f"/api/tickets/{number}/assign", token, json={"agent": "me"}
        ).status_code
        == 200
    )
    harness.settle()
    subjects = {m["Subject"]: mail_text(m) for m in outgoing(harness)}
    (assigned,) = [text for subject, text in subjects.items() if "Dana is working on it" in subject]
    assert "reply to this email" in assigned and path_of(assigned)


def test_a_revoked_forged_or_expired_link_shows_a_friendly_page_with_nothing_of_the_ticket(
    harness: Harness, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = client_ticket(harness, subject="Secret project Zeta")
    _, token = harness.agent("Dana Whitfield")
    old = harness.ticket(number)["tracking_link"]
    assert page(harness, old).status_code == 200

    def friendly(response: httpx.Response) -> None:
        assert response.status_code == 404
        assert "does not lead to a request" in response.text
        assert "Zeta" not in response.text and number not in response.text

    # An agent revokes it: the old link names nothing, the client gets the new one
    response = harness.api(
        "POST",
        f"/api/tickets/{number}/tracking-link/revoke",
        token,
        json={"reason": "forwarded to a stranger"},
    )
    assert response.status_code == 200
    new = response.json()["tracking_link"]
    friendly(page(harness, old))
    assert page(harness, new).status_code == 200
    harness.settle()
    (told,) = [m for m in harness.sent() if m["kind"] == "tracking_link"]
    read = harness.ctx.tracking_nonce  # links made a second apart differ in their time
    assert read(path_of(told["text"])[3:]) == read(path_of(new)[3:]) is not None
    assert told["recipient"] == "client-1"
    assert any(e["action"] == "tracking_link_revoked" for e in harness.ticket(number)["audit"])
    # Files of the ticket follow the link: none under the old one
    friendly(harness.client.get(path_of(old) + "/files/1/x.png"))
    # From the command line too
    result = cli.invoke(main, ["tickets", "revoke-link", number, "--json"])
    assert result.exit_code == 0, result.output
    friendly(page(harness, new))
    # A forged token (one character changed) and a made-up one
    good = path_of(harness.ticket(number)["tracking_link"])
    assert harness.client.get(good).status_code == 200
    # (a middle character of the signature: the last one also holds unused bits)
    forged = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    friendly(harness.client.get(forged))
    friendly(harness.client.get("/t/" + "x" * 40))
    # A link older than TRACKING_LINK_DAYS
    with harness.ctx.db.reading() as s:
        nonce = lookup.get_ticket(s, number).tracking_token
    long_ago = time.time() - (harness.ctx.tracking_link_days + 1) * 86400
    with monkeypatch.context() as m:
        m.setattr("itsdangerous.timed.time.time", lambda: long_ago)
        expired = tracking_link_token(harness.ctx.secret, nonce)
    friendly(harness.client.get(f"/t/{expired}"))


def test_only_staff_can_revoke_a_link(harness: Harness) -> None:
    number = client_ticket(harness)
    response = harness.client.post(f"/api/tickets/{number}/tracking-link/revoke")
    assert response.status_code == 401


def test_a_ticket_raised_by_monitoring_has_no_reply_box_and_takes_no_reply_from_its_page(
    harness: Harness,
) -> None:
    # Given a ticket whose requester is a monitoring system (nothing is ever sent to it)
    ticket_id = harness.open_ticket(
        subject="HighTemperature on OVEN-1", requester=("alerts", "prometheus", "Alertmanager")
    )
    link = harness.ticket(ticket_id)["tracking_link"]
    html = page(harness, link).text
    assert "HighTemperature on OVEN-1" in html and 'id="reply-form"' not in html
    # A reply posted to it anyway (with the ticket's own form token) is refused: nothing added
    with harness.ctx.db.reading() as s:
        csrf = form_token(
            harness.ctx.secret, "reply", lookup.get_ticket(s, ticket_id).tracking_token
        )
    form = {"csrf": csrf, "form_key": "k1", "text": "Written as the monitoring system?"}
    response = harness.client.post(path_of(link) + "/reply", data=form, follow_redirects=False)
    assert response.status_code == 409 and "takes no more messages here" in response.text
    assert len(harness.ticket(ticket_id)["thread"]) == 1
