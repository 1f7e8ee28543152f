"""The portal form, as a client without an email program would use it: in a real
browser, and sent twice, forged, wrong and too often over HTTP."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from core.models import Ticket
from core.tokens import parse_receipt_token
from tests.browser import serve
from tests.cdp import Browser
from tests.email_support import outgoing
from tests.harness import Harness, at_once
from tests.test_contacts import mail_text


def count_tickets(harness: Harness) -> int:
    with harness.ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(Ticket)).scalar_one()


def fill(b: Browser, **values: str) -> None:
    for name, value in values.items():
        b.fill(f"#{name}", value)


def test_a_client_raises_a_ticket_on_the_portal_and_gets_its_number_promise_and_link(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "pump.log"
    log.write_text("E42 at 09:14\n")
    with serve(harness.ctx) as base, Browser(tmp_path / "shots") as b:
        b.open(base + "/portal")
        # Each priority is explained in plain words, with the answer to expect
        urgency = b.text("#priority")
        assert "Critical: something important has stopped" in urgency
        assert "We answer within 15 minutes" in urgency  # P1, from the policy
        assert "We answer within 4 hours (business hours)" in urgency  # P3
        assert b.js("document.querySelector('label[for=email]') !== null")
        fill(
            b,
            name="Lia Moreau",
            email="lia@example.com",
            subject="Pump 3 shows E42",
            description="Since this morning pump 3 stops with E42.",
            asset="PUMP-3",
        )
        b.js("document.getElementById('priority-P2').checked = true")
        b.choose_files("#attachments", [log])
        b.screenshot(tmp_path / "portal.png")
        b.click("#send")
        # Then the confirmation: number, expected response, tracking link
        number = b.text("#number")
        assert re.fullmatch(r"T-\d{6}", number)
        assert b.text("#expect") == "You can expect a first answer within 1 hour (business hours)."
        link = b.js("document.getElementById('tracking').href")
        assert "We have also sent this link to lia@example.com" in b.text("body")
        # And the link opens the tracking page with the file
        b.open(base + "/t/" + link.split("/t/", 1)[1])
        assert b.text("#subject") == "Pump 3 shows E42"
        assert "pump.log" in b.text(".thread")
    ticket = harness.ticket(number)
    assert (ticket["priority"], ticket["links"]["asset"]) == ("P2", "PUMP-3")
    assert ticket["client"]["name"] == "Lia Moreau"
    harness.settle()
    (ack,) = [m for m in outgoing(harness) if number in str(m["Subject"])]
    assert ack["To"] == "lia@example.com"
    # The tracking link also comes by email (made a moment apart: the same ticket's nonce)
    mailed = re.search(r"/t/([^\s\"<>]+)", mail_text(ack))
    assert mailed is not None
    read = harness.ctx.tracking_nonce
    assert read(mailed.group(1)) == read(link.split("/t/", 1)[1]) is not None


def form_page(harness: Harness) -> dict[str, str]:
    html = harness.client.get("/portal").text
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("csrf", "form_key")
    }


GOOD = {
    "name": "Lia",
    "email": "lia@example.com",
    "subject": "Door badge",
    "description": "The reader beeps.",
    "priority": "P3",
}


def test_a_double_submit_makes_one_ticket_even_when_both_arrive_at_once(
    harness: Harness,
) -> None:
    form = {**form_page(harness), **GOOD}
    first = harness.client.post("/portal", data=form, follow_redirects=False)
    again = harness.client.post("/portal", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    # Both land on the same ticket's confirmation (tokens made a second apart differ)
    assert {
        parse_receipt_token(harness.ctx.secret, r.headers["location"].rsplit("/", 1)[1])
        for r in (first, again)
    } == {1}
    assert count_tickets(harness) == 1
    # Two sendings of another form, at the same moment
    form = {**form_page(harness), **GOOD, "subject": "Second"}
    answers: list[int] = []

    def send() -> None:
        answers.append(
            harness.client.post("/portal", data=form, follow_redirects=False).status_code
        )

    at_once(send, send)
    assert answers == [303, 303]
    assert count_tickets(harness) == 2


def test_bad_input_is_named_field_by_field_and_kept_in_the_browser(
    harness: Harness, tmp_path: Path
) -> None:
    with serve(harness.ctx) as base, Browser(tmp_path / "shots") as b:
        b.open(base + "/portal")
        fill(b, name="Lia", email="not an address", subject="", description="It beeps.")
        b.click("#send")
        assert "Please check the fields marked below." in b.text("#problems")
        assert "not an email address" in b.text("#email-problem")
        assert b.text("#subject-problem") == "Please fill in your subject."
        assert b.js("document.getElementById('email').getAttribute('aria-invalid')") == "true"
        assert b.js("document.getElementById('name').value") == "Lia", "what was typed is kept"
        assert b.js("document.getElementById('description').value") == "It beeps."
    assert count_tickets(harness) == 0


def test_a_forged_form_opens_nothing_and_the_limits_per_address_and_ip_hold(
    harness: Harness,
) -> None:
    # A form sent from elsewhere: no cookie of ours, no valid token
    harness.client.cookies.clear()
    forged = {**GOOD, "csrf": "0" * 16, "form_key": "k1"}
    response = harness.client.post("/portal", data=forged, follow_redirects=False)
    assert response.status_code == 403 and "expired" in response.text
    assert count_tickets(harness) == 0
    # At most N per address per hour
    harness.ctx.portal_per_address_per_hour = 2
    for i in range(2):
        form = {**form_page(harness), **GOOD, "subject": f"Try {i}"}
        assert harness.client.post("/portal", data=form, follow_redirects=False).status_code == 303
    form = {**form_page(harness), **GOOD, "subject": "Third", "email": "LIA@example.com"}
    response = harness.client.post("/portal", data=form, follow_redirects=False)
    assert response.status_code == 429 and "several requests in the last hour" in response.text
    # And per IP, whatever the address
    harness.ctx.portal_per_ip_per_hour = 2
    form = {**form_page(harness), **GOOD, "email": "someone.else@example.com"}
    response = harness.client.post("/portal", data=form, follow_redirects=False)
    assert response.status_code == 429 and "from your network" in response.text
    assert count_tickets(harness) == 2
