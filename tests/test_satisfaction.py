"""After a resolution the client is asked "Is it fixed?" by email, answers through the
link's page, and what they say reopens the ticket, notifies the lead and is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from config.settings import Settings
from core.models import SatisfactionAnswer
from core.satisfaction import answering
from tests.browser import render, serve
from tests.email_support import mail, send_mail
from tests.harness import Harness, make_settings, wait_until
from tests.sla_support import FakeNow
from tests.test_email_sender import Relayed, relay  # noqa: F401  (the outbound relay fixture)


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    relay: tuple[Relayed, int],  # noqa: F811
) -> Iterator[Settings]:
    """Outbound mail leaves through a real SMTP relay on loopback."""
    yield make_settings(
        tmp_path,
        database_url,
        broker_url,
        mail_relay_host="127.0.0.1",
        mail_relay_port=relay[1],
        mail_relay_security="none",
    )


def relayed(handler: Relayed, to: str, subject_part: str) -> list[EmailMessage]:
    found = []
    for _, rcpts, raw in handler.messages:
        msg = message_from_bytes(raw, policy=policy.default)
        if to in rcpts and subject_part in str(msg["Subject"]):
            found.append(msg)
    return found


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def audit_actions(harness: Harness, number: str) -> list[dict[str, Any]]:
    answers = ("satisfaction", "satisfaction_changed")
    return [e for e in harness.ticket(number)["audit"] if e["action"] in answers]


def test_the_client_answers_by_the_email_link_not_fixed_reopens_a_low_rating_tells_the_lead_and_a_change_is_audited(
    harness: Harness,
    smtp_port: int,
    relay: tuple[Relayed, int],  # noqa: F811
) -> None:
    handler, _ = relay
    _, ana = harness.agent("Ana")
    harness.agent("Lee", roles=("agent", "lead"), email="lee@support.example")
    # Given a ticket a client opened by email, resolved by an agent
    send_mail(smtp_port, mail(subject="Printer jammed"))
    harness.settle()
    number = harness.only_ticket_number()
    harness.api("POST", f"/api/tickets/{number}/acknowledge", ana)
    answer = harness.api(
        "POST",
        f"/api/tickets/{number}/resolve",
        ana,
        json={"code": "fixed", "steps": "Cleared the paper path."},
    )
    assert answer.status_code == 200, answer.text
    harness.settle()

    # Then the client gets the question by email, with a link per answer
    [question] = wait_until(
        lambda: relayed(handler, "dana@client.example", "Is it fixed?"), what="question mailed"
    )
    text = text_of(question)
    links = dict(re.findall(r"(Yes, it is fixed|No, it is not fixed|\d of 5): (\S+)", text))
    assert set(links) == {"Yes, it is fixed", "No, it is not fixed"} | {
        f"{n} of 5" for n in range(1, 6)
    }
    html = question.get_body(preferencelist=("html",))
    assert html is not None and links["No, it is not fixed"].replace("&", "&amp;") in str(
        html.get_content()
    )
    with harness.ctx.db.reading() as s:
        from core.models import OutboxDelivery

        row = s.execute(
            select(OutboxDelivery).where(OutboxDelivery.kind == "satisfaction")
        ).scalar_one()
        buttons = row.payload["extras"]["buttons"]
    assert [b[1] for b in buttons[:2]] == ["Yes, it is fixed", "Not fixed"]
    assert all(b[0].startswith("sat:") and len(b[0].encode()) <= 64 for b in buttons)

    # When the client opens the "not fixed" link: the page asks to confirm, nothing changes yet
    path = urlsplit(links["No, it is not fixed"])
    page = harness.client.get(f"{path.path}?{path.query}")
    assert page.status_code == 200 and number in page.text
    assert re.search(r'value="no"\s+checked', page.text)
    assert harness.ticket(number)["status"] == "resolved"

    # And sends the form (plain HTML, no script): not fixed, rated 2, with a comment
    sent = harness.client.post(
        path.path,
        data={"fixed": "no", "rating": "2", "comment": "Still jams on tray 2"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    shown = harness.client.get(sent.headers["location"])
    assert "your answer is saved" in shown.text and "reopened" in shown.text

    # Then the ticket is open again, the answer audited, and the lead told by email
    assert harness.ticket(number)["status"] in ("acknowledged", "assigned")
    [first] = audit_actions(harness, number)
    assert first["action"] == "satisfaction"
    assert "satisfaction_low_notified" in [e["action"] for e in harness.ticket(number)["audit"]]
    said = {k: first["data"][k] for k in ("fixed", "rating", "comment")}
    assert said == {"fixed": False, "rating": 2, "comment": "Still jams on tray 2"}
    harness.settle()
    [told] = wait_until(
        lambda: relayed(handler, "lee@support.example", "rated 2 of 5"), what="lead told"
    )
    assert "Still jams on tray 2" in text_of(told)
    assert not relayed(handler, "ana@support.example", "rated"), "only leads are told"

    # When the client changes the rating from the same link
    again = harness.client.post(path.path, data={"rating": "4"}, follow_redirects=False)
    assert again.status_code == 303
    # Then one answer is kept, changed, and the change is audited with what it was
    with harness.ctx.db.reading() as s:
        [row_answer] = s.execute(select(SatisfactionAnswer)).scalars().all()
        assert (row_answer.fixed, row_answer.rating, row_answer.changes) == (False, 4, 1)
    changed = audit_actions(harness, number)[-1]
    assert changed["action"] == "satisfaction_changed"
    assert changed["data"]["before"]["rating"] == 2 and changed["data"]["rating"] == 4
    assert harness.ticket(number)["status"] in ("acknowledged", "assigned"), "reopened once"


def test_a_forged_or_unknown_question_link_shows_nothing_of_any_ticket(harness: Harness) -> None:
    t = harness.open_ticket(subject="Secret subject")
    assert t
    for token in ("1-0000000000000000", "not-a-token", "zz" * 40):
        page = harness.client.get(f"/s/{token}?fixed=no")
        assert page.status_code == 404 and "Secret subject" not in page.text
        posted = harness.client.post(f"/s/{token}", data={"fixed": "no"})
        assert posted.status_code == 404


def test_a_bad_rating_is_refused_naming_what_to_do_and_changes_nothing(harness: Harness) -> None:
    number, token = _asked(harness)
    page = harness.client.post(f"/s/{token}", data={"rating": "9"})
    assert page.status_code == 422 and "a rating is 1 to 5" in page.text
    empty = harness.client.post(f"/s/{token}", data={})
    assert empty.status_code == 422 and "say whether it is fixed" in empty.text
    assert not audit_actions(harness, number)


def test_a_chat_button_press_answers_like_the_page(harness: Harness) -> None:
    number, token = _asked(harness)
    with harness.ctx.db.transaction() as s:
        assert answering.press(harness.ctx, s, f"sat:{token}:5", "telegram") is not None
        assert answering.press(harness.ctx, s, "other:button", "telegram") is None
    [event] = audit_actions(harness, number)
    assert event["data"]["rating"] == 5 and event["data"]["channel"] == "telegram"
    assert harness.ticket(number)["status"] == "resolved"


def _asked(harness: Harness) -> tuple[str, str]:
    """A ticket Ana resolved, and the token of the question its client was sent."""
    agent, _ = harness.agent("Ana")
    ticket_id = harness.open_ticket(subject="Badge reader")
    harness.resolve(ticket_id, agent, "Reset the reader.")
    number = str(harness.ticket(ticket_id)["number"])
    return number, _token(harness, number)


def _token(harness: Harness, number: str) -> str:
    harness.settle()
    [question] = [d for d in harness.sent() if d["kind"] == "satisfaction"]
    found = re.search(r"/s/([0-9a-z]+-[0-9a-f]{16})", question["text"])
    assert found, question
    assert number in question["subject"]
    return found.group(1)


def test_the_question_page_in_a_browser_is_a_plain_form_with_the_link_s_answer_chosen(
    harness: Harness, tmp_path: Path
) -> None:
    number, token = _asked(harness)
    with serve(harness.ctx) as base:
        dom = render(f"{base}/s/{token}?rating=4", screenshot=tmp_path / "question.png")
    assert "Is it fixed?" in dom and number in dom and "Badge reader" in dom
    assert re.search(r'<form method="post" action="/s/[^"]+">', dom)
    assert re.search(r'value="4"\s+checked', dom), "the link's rating is chosen"
    assert "<script" not in dom, "the page needs no script"
    assert (tmp_path / "question.png").stat().st_size > 1000
    assert not audit_actions(harness, number), "opening the link saved nothing"


def test_the_question_closes_after_answer_days_and_a_late_answer_changes_nothing(
    harness: Harness, now: FakeNow
) -> None:
    number, token = _asked(harness)
    now.advance(days=15)  # the policy's answer_days is 14
    page = harness.client.get(f"/s/{token}")
    assert page.status_code == 200 and "closed 14 days after the resolution" in page.text
    assert "<form" not in page.text
    late = harness.client.post(f"/s/{token}", data={"fixed": "no"})
    assert late.status_code == 422 and "closed 14 days after" in late.text
    assert harness.ticket(number)["status"] == "resolved" and not audit_actions(harness, number)


def test_an_address_guessing_question_links_or_sign_in_tokens_is_slowed_down(
    harness: Harness,
) -> None:
    harness.ctx.public_requests_per_minute = 4  # before the app is built
    answers = [harness.client.get(f"/s/{n}-0000000000000000").status_code for n in range(4)]
    assert answers == [404] * 4
    assert harness.client.get("/s/5-0000000000000000").status_code == 429
    guessed = harness.client.post("/leads/login", data={"token": "sbt_guess"})
    assert guessed.status_code == 429, "the lead sign-in counts too"
