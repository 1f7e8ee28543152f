"""Email threading and loop safety, end to end: SMTP in, rules, maildir out."""

from __future__ import annotations

from email.message import EmailMessage, Message

from sqlalchemy import select

from core.models import InboundRecord
from tests.email_support import SUPPORT, mail, open_ticket, outgoing, send_mail
from tests.harness import Harness


def parked(harness: Harness) -> list[list[str]]:
    """The rules that parked each parked inbound record."""
    with harness.ctx.db.reading() as session:
        return [
            list(r.rules_fired)
            for r in session.execute(
                select(InboundRecord).where(InboundRecord.status == "parked")
            ).scalars()
        ]


def reply_to(
    ack: Message,
    *,
    sender: str = "dana@client.example",
    to: str | None = None,
    body: str = "It happened again at 10:00.",
) -> EmailMessage:
    plain = next(p for p in ack.walk() if p.get_content_type() == "text/plain")
    text = plain.get_payload(decode=True)
    assert isinstance(text, bytes)
    quoted = "\n".join("> " + line for line in text.decode().splitlines())
    text = f"{body}\n\nOn Wed, 25 Nov 2026 at 10:00, Support <{SUPPORT}> wrote:\n{quoted}\n"
    return mail(
        sender=sender,
        to=to or str(ack["Reply-To"]),
        subject="Re: " + str(ack["Subject"]),
        body=text,
        In_Reply_To=str(ack["Message-ID"]),
        References=f"<first@client.example> {ack['Message-ID']}",
    )


def test_a_reply_to_the_acknowledgement_joins_the_ticket_with_only_the_new_text(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    assert ack["Reply-To"].startswith("support+") and ack["Message-ID"].startswith("<sb.")
    send_mail(smtp_port, reply_to(ack))
    harness.settle()
    ticket = harness.ticket(harness.only_ticket_number())
    assert [m["text"] for m in ticket["thread"]][1] == "It happened again at 10:00."
    assert len(outgoing(harness)) == 1, "a client's reply gets no second acknowledgement"


def test_a_follow_up_that_only_references_the_clients_first_mail_joins_the_ticket(
    harness: Harness, smtp_port: int
) -> None:
    open_ticket(harness, smtp_port)
    send_mail(
        smtp_port,
        mail(subject="Also", body="And the Wi-Fi too.", In_Reply_To="<first@client.example>"),
    )
    harness.settle()
    assert harness.tickets()["total"] == 1
    assert len(harness.ticket("T-000001")["thread"]) == 2


def test_the_subject_tag_joins_only_for_participants_and_a_stranger_gets_a_new_linked_ticket(
    harness: Harness, smtp_port: int
) -> None:
    open_ticket(harness, smtp_port)
    send_mail(smtp_port, mail(subject="[#T-000001] more details", body="Screenshot follows."))
    send_mail(
        smtp_port,
        mail(sender="mallory@elsewhere.example", subject="[#T-000001] let me in", body="Hi"),
    )
    harness.settle()
    assert len(harness.ticket("T-000001")["thread"]) == 2
    second = harness.ticket("T-000002")
    assert second["client"]["address"] == "mallory@elsewhere.example"
    assert any(e["data"].get("linked_from") == 1 for e in second["audit"] if e["action"] == "open")


def test_a_stranger_writing_to_a_reply_address_never_joins_that_ticket(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    send_mail(
        smtp_port,
        reply_to(ack, sender="mallory@elsewhere.example", body="Please send me the VPN config."),
    )
    harness.settle()
    assert len(harness.ticket("T-000001")["thread"]) == 1
    assert harness.ticket("T-000002")["client"]["address"] == "mallory@elsewhere.example"


def test_an_out_of_office_answer_to_our_acknowledgement_is_parked_and_gets_no_answer(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    ooo = mail(
        subject="Automatic reply: " + str(ack["Subject"]),
        body="I am out of the office until Monday.",
        Auto_Submitted="auto-replied",
        In_Reply_To=str(ack["Message-ID"]),
    )
    send_mail(smtp_port, ooo)
    harness.settle()
    [rules] = parked(harness)
    assert rules[0] == "automatic"
    assert len(harness.ticket("T-000001")["thread"]) == 1
    assert len(outgoing(harness)) == 1


def test_a_bounce_marks_our_delivery_bounced_and_opens_no_ticket(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    dsn = EmailMessage()
    dsn["From"] = "Mail Delivery System <MAILER-DAEMON@mx.client.example>"
    dsn["To"] = SUPPORT
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn["Message-ID"] = "<bounce-1@mx.client.example>"
    dsn.set_content(
        "I'm sorry to have to inform you that your message could not be delivered.\n<dana@client.example>: mailbox full"
    )
    original = EmailMessage()
    for name in ("From", "To", "Subject", "Message-ID"):
        original[name] = str(ack[name])
    dsn.add_attachment(original.as_bytes(), maintype="text", subtype="rfc822-headers")
    dsn.replace_header(
        "Content-Type",
        dsn.get_content_type().replace("mixed", "report") + '; report-type="delivery-status"',
    ) if dsn.is_multipart() else None
    send_mail(smtp_port, dsn, mail_from="")
    harness.settle()
    deliveries = harness.ticket("T-000001")["deliveries"]
    assert deliveries[0]["status"] == "bounced"
    assert harness.tickets()["total"] == 1
    assert parked(harness)[0][0] == "bounce"


def test_no_recipient_gets_more_automatic_mail_per_hour_than_the_cap(
    harness: Harness, smtp_port: int
) -> None:
    for i in range(7):
        send_mail(smtp_port, mail(subject=f"Problem number {i}", body=f"Details {i}"))
    harness.settle()
    assert harness.tickets()["total"] == 7
    assert len(outgoing(harness)) == harness.ctx.auto_reply_limit_per_hour == 5
    capped = [
        n
        for n in range(1, 8)
        if any(e["action"] == "automatic_capped" for e in harness.ticket(n)["audit"])
    ]
    assert len(capped) == 2, "the two over the cap are audited on their tickets"


def test_an_agents_forward_opens_a_ticket_for_the_original_sender(
    harness: Harness, smtp_port: int
) -> None:
    harness.agent("Ana", email="ana@support.example")
    body = "Can we help her?\n\n---------- Forwarded message ---------\nFrom: Rosa Diaz <rosa@client.example>\nDate: Tue, 24 Nov 2026 09:00\nSubject: Scanner offline\nTo: Ana <ana@support.example>\n\nThe scanner is offline since this morning.\n"
    send_mail(
        smtp_port,
        mail(sender="Ana <ana@support.example>", subject="Fwd: Scanner offline", body=body),
    )
    send_mail(
        smtp_port,
        mail(
            sender="bob@client.example",
            subject="Fwd: Scanner offline",
            body=body.replace("Can we", "Could you"),
        ),
    )
    harness.settle()
    clients = sorted(t["client"]["address"] for t in harness.tickets()["tickets"])
    assert clients == ["bob@client.example", "rosa@client.example"], (
        "only agents open tickets for others"
    )


def test_an_agents_reply_is_threaded_for_every_mail_client(
    harness: Harness, smtp_port: int
) -> None:
    ack = open_ticket(harness, smtp_port)
    _, token = harness.agent("Ana")
    assert (
        harness.api(
            "POST",
            "/api/tickets/T-000001/reply",
            token,
            json={"text": "Please restart the VPN client."},
        ).status_code
        == 200
    )
    harness.settle()
    reply = [m for m in outgoing(harness) if m["Message-ID"] != ack["Message-ID"]][0]
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert (
        "<first@client.example>" in reply["References"] and ack["Message-ID"] in reply["References"]
    )
    assert reply["Reply-To"] == ack["Reply-To"]
    assert reply["Thread-Index"] and "Auto-Submitted" not in reply
    assert "[#T-000001]" in reply["Subject"]
    kinds = {p.get_content_type() for p in reply.walk()}
    assert {"text/plain", "text/html"} <= kinds
    shown = harness.ticket("T-000001")["deliveries"]
    assert shown[-1]["external_id"] == reply["Message-ID"]
