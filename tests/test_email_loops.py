"""Loop safety and bounces, end to end through the SMTP server: what a client or an
operator would notice (tickets, acknowledgements, parked records, delivery status)."""

from __future__ import annotations

import smtplib
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from core.errors import ConfigError
from core.models import AuditEvent, Identity, OutboxDelivery
from core.policy import load_policy
from tests.email_support import SUPPORT, mail, open_ticket, outgoing, send_mail
from tests.harness import Harness


def delivery(harness: Harness, kind: str = "ack") -> OutboxDelivery:
    with harness.ctx.db.reading() as session:
        return session.execute(
            select(OutboxDelivery).where(OutboxDelivery.kind == kind)
        ).scalar_one()


QMAIL_BOUNCE = """\
From: MAILER-DAEMON@mx.client.example
To: {to}
Subject: failure notice
Date: Mon, 07 Dec 2026 09:15:00 +0000
Message-ID: <bounce-1@mx.client.example>

Hi. This is the qmail-send program at mx.client.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<dana@client.example>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <support@localhost>
Message-ID: {message_id}
From: Support <support@localhost>
To: dana@client.example
Subject: {subject}

Thank you, we received your request.
"""


def send_qmail_bounce(port: int, ack: Message) -> None:
    """A plain-text qmail bounce of ``ack``, from a null envelope sender."""
    raw = QMAIL_BOUNCE.format(to=SUPPORT, message_id=ack["Message-ID"], subject=ack["Subject"])
    send_mail(port, raw.replace("\n", "\r\n").encode(), mail_from="")


def dana_bounced(harness: Harness) -> bool:
    """Whether Dana's address is marked bounced."""
    with harness.ctx.db.reading() as session:
        identity = session.execute(
            select(Identity).where(Identity.address == "dana@client.example")
        ).scalar_one()
        return identity.bounced_at is not None


def test_a_plain_text_bounce_from_a_null_sender_marks_the_delivery_and_the_address(
    harness: Harness, smtp_port: int
) -> None:
    # Given a ticket whose acknowledgement went out
    ack = open_ticket(harness, smtp_port)
    # When a plain-text qmail bounce for it arrives with a null envelope sender
    send_qmail_bounce(smtp_port, ack)
    harness.settle()
    # Then it is filed as a bounce, not as unparseable, and opens nothing
    bounce = harness.records()[-1]
    assert (bounce.status, bounce.rules_fired) == ("parked", ["bounce"])
    assert "dana@client.example failed permanently" in (bounce.reason or "")
    assert harness.tickets()["total"] == 1 and len(outgoing(harness)) == 1
    # And the delivery says who failed and that it was permanent
    row = delivery(harness)
    assert row.status == "bounced"
    assert row.report is not None and row.report["kind"] == "bounce"
    assert [(f["address"], f["permanent"]) for f in row.report["failed"]] == [
        ("dana@client.example", True)
    ]
    assert dana_bounced(harness)


def test_after_a_permanent_bounce_nothing_automatic_goes_to_the_address_until_it_writes_in(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    send_qmail_bounce(smtp_port, ack)
    harness.settle()
    _, token = harness.agent("Ana", roles=("agent", "lead"))
    # When an agent resolves the ticket, the automatic "resolved" notice is not sent
    response = harness.api(
        "POST",
        "/api/tickets/T-000001/resolve",
        token,
        json={
            "code": "fixed",
            "steps": "Replaced the router.",
            "override_reason": "fixed on the phone",
        },
    )
    assert response.status_code == 200, response.text
    harness.settle()
    assert len(outgoing(harness)) == 1, "only the first acknowledgement ever left"
    with harness.ctx.db.reading() as session:
        actions = list(session.execute(select(AuditEvent.action)).scalars())
    assert "automatic_suppressed" in actions
    # When the address writes in again, it is reachable: the new ticket is acknowledged
    send_mail(smtp_port, mail(subject="Another question", message_id="<second@client.example>"))
    harness.settle()
    assert len(outgoing(harness)) == 2
    assert not dana_bounced(harness)


def test_a_delay_warning_is_kept_on_the_delivery_but_is_not_a_bounce(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.client.example>\r\n"
        f"To: {SUPPORT}\r\nSubject: Delayed Mail (still being retried)\r\n"
        "Message-ID: <delay-1@mx.client.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message is delayed; we will keep trying.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.example\r\n\r\n"
        "Final-Recipient: rfc822; dana@client.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ack['Message-ID']}\r\nSubject: x\r\n\r\n--b--\r\n"
    ).encode()
    send_mail(smtp_port, dsn, mail_from="")
    harness.settle()
    row = delivery(harness)
    assert row.status == "sent", "a delay is not a bounce"
    assert row.report is not None and row.report["kind"] == "delay"
    assert row.report["failed"][0]["permanent"] is False
    assert not dana_bounced(harness)
    assert harness.tickets()["total"] == 1


def test_an_exchange_out_of_office_marked_only_by_microsoft_headers_is_never_answered(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    ooo = mail(
        subject="RE: " + str(ack["Subject"]),
        body="I am away until Monday.",
        In_Reply_To=str(ack["Message-ID"]),
        X_MS_Exchange_Inbox_Rules_Loop="dana@client.example",
    )
    send_mail(smtp_port, ooo)
    harness.settle()
    last = harness.records()[-1]
    assert last.status == "parked" and last.rules_fired == ["automatic"]
    assert "X-MS-Exchange-Inbox-Rules-Loop" in (last.reason or "")
    assert len(harness.ticket("T-000001")["thread"]) == 1 and len(outgoing(harness)) == 1


def test_mail_through_a_mailing_list_opens_a_ticket_without_an_acknowledgement(
    harness: Harness, smtp_port: int
) -> None:
    send_mail(
        smtp_port,
        mail(
            sender="quinn@client.example",
            subject="[ops] Badge reader at gate 3 rejects all cards",
            List_Id="Ops list <ops.lists.client.example>",
            Precedence="list",
        ),
    )
    harness.settle()
    ticket = harness.ticket(harness.only_ticket_number())
    assert ticket["client"]["address"] == "quinn@client.example"
    assert outgoing(harness) == [], "RFC 3834: nothing automatic answers list mail"
    [record] = harness.records()
    assert record.outcome == "open" and any("no acknowledgement" in n for n in record.rules_fired)
    assert ticket["sla"]["response_due_at"], "the SLA clock runs as for any ticket"


def test_an_operator_rule_from_the_policy_file_parks_a_newsletter_and_routes_a_list(
    harness: Harness, smtp_port: int, tmp_path: Path
) -> None:
    overlay = tmp_path / "policy.toml"
    overlay.write_text(
        "[[intake_rules]]\n"
        'name = "newsletters"\nlist_id = "*.news.example"\nbulk = true\naction = "park"\n\n'
        "[[intake_rules]]\n"
        'name = "plant list"\nlist_id = "ops.lists.client.example"\naction = "open"\n'
        'queue = "field-service"\npriority = "P2"\n'
    )
    harness.ctx.policy = load_policy(overlay)
    send_mail(
        smtp_port,
        mail(
            sender="news@vendor.example",
            subject="Our spring offers",
            List_Id="<offers.news.example>",
        ),
    )
    send_mail(
        smtp_port,
        mail(
            sender="quinn@client.example",
            subject="Line 3 stopped",
            List_Id="Ops <ops.lists.client.example>",
        ),
    )
    harness.settle()
    newsletter, plant = harness.records()
    assert (newsletter.status, newsletter.rules_fired) == ("parked", ["operator:newsletters"])
    ticket = harness.ticket(harness.only_ticket_number())
    assert (ticket["queue"], ticket["priority"]) == ("field-service", "P2")
    assert "operator:plant list" in plant.rules_fired


def test_a_wrong_operator_rule_stops_the_start_with_a_message_naming_it(tmp_path: Path) -> None:
    overlay = tmp_path / "policy.toml"
    overlay.write_text('[[intake_rules]]\nname = "oops"\naction = "delete"\n')
    with pytest.raises(ConfigError, match="intake rule 'oops' action"):
        load_policy(overlay)


def test_a_line_over_1000_characters_is_accepted_and_reaches_the_ticket(
    harness: Harness, smtp_port: int
) -> None:
    long_line = "The log says: " + "E42 " * 600
    raw = (
        f"From: dana@client.example\r\nTo: {SUPPORT}\r\nSubject: Long log line\r\n"
        f"Message-ID: <long@client.example>\r\n\r\n{long_line}\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.ehlo()
        client.mail("dana@client.example")
        client.rcpt(SUPPORT)
        code, _ = client.data(raw)
    assert code == 250
    harness.settle()
    thread = harness.ticket(harness.only_ticket_number())["thread"]
    assert "E42 " * 500 in thread[0]["text"]
