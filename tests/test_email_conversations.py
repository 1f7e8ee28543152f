"""One conversation, one ticket: References, the ticket family, who the mail reached,
and replies that lost their headers. End to end through the SMTP server."""

from __future__ import annotations

from sqlalchemy import select

from core.models import InboundRecord
from tests.email_support import mail, send_mail
from tests.harness import Harness

ROOT = "<root@client.example>"  # the first mail's Message-ID


def last_record(harness: Harness) -> InboundRecord:
    with harness.ctx.db.reading() as session:
        return session.execute(
            select(InboundRecord).order_by(InboundRecord.id.desc()).limit(1)
        ).scalar_one()


def numbers(harness: Harness) -> list[str]:
    return sorted(str(t["number"]) for t in harness.tickets()["tickets"])


def first_mail(harness: Harness, port: int, **headers: str) -> None:
    send_mail(port, mail(subject="Line 3 stopped", message_id=ROOT, **headers))
    harness.settle()


def answer(harness: Harness, port: int, body: str, *refs: str, **headers: str) -> None:
    """A reply to the first mail's subject with ``refs`` as its References (answering
    the last one), decided."""
    send_mail(
        port,
        mail(
            subject="Re: Line 3 stopped",
            body=body,
            In_Reply_To=refs[-1],
            References=" ".join(refs),
            **headers,
        ),
    )
    harness.settle()


def test_a_colleague_copied_on_the_first_mail_joins_the_ticket_when_answering(
    harness: Harness, smtp_port: int
) -> None:
    first_mail(harness, smtp_port, Cc="Erin <erin@client.example>")
    answer(harness, smtp_port, "It also stopped on line 4.", ROOT, sender="erin@client.example")
    assert numbers(harness) == ["T-000001"]
    assert [m["text"] for m in harness.ticket("T-000001")["thread"]][
        -1
    ] == "It also stopped on line 4."


def test_a_stranger_still_gets_a_linked_ticket_and_the_requester_answering_them_stays_in_the_first(
    harness: Harness, smtp_port: int
) -> None:
    first_mail(harness, smtp_port)
    # A list member nobody copied answers: a new ticket, linked (a stranger never joins silently)
    sam = "<sam@elsewhere.example>"
    answer(
        harness,
        smtp_port,
        "Same here since Monday.",
        ROOT,
        sender="sam@elsewhere.example",
        message_id=sam,
    )
    assert numbers(harness) == ["T-000001", "T-000002"]
    assert harness.ticket("T-000002")["linked_from"] is not None
    # The requester answers the stranger's message: every id in References counts
    answer(harness, smtp_port, "Sam, did you update the firmware?", ROOT, sam)
    assert numbers(harness) == ["T-000001", "T-000002"], "no third ticket in the chain"
    assert harness.ticket("T-000001")["thread"][-1]["text"] == "Sam, did you update the firmware?"
    # The stranger writing on in their thread stays in their own ticket (its family knows them)
    answer(harness, smtp_port, "No, still the old one.", ROOT, sender="sam@elsewhere.example")
    assert numbers(harness) == ["T-000001", "T-000002"]
    assert harness.ticket("T-000002")["thread"][-1]["text"] == "No, still the old one."


def test_a_reply_with_no_references_and_no_token_joins_the_senders_ticket_with_the_same_subject(
    harness: Harness, smtp_port: int
) -> None:
    first_mail(harness, smtp_port)
    send_mail(smtp_port, mail(subject="RE: Line 3 stopped", body="It runs again after a restart."))
    harness.settle()
    assert numbers(harness) == ["T-000001"]
    record = last_record(harness)
    assert record.rules_fired == ["same_subject"]
    assert "same sender and subject as T-000001" in (record.reason or "")


def test_a_new_mail_with_the_same_subject_but_no_reply_prefix_is_a_new_ticket(
    harness: Harness, smtp_port: int
) -> None:
    first_mail(harness, smtp_port)
    send_mail(smtp_port, mail(subject="Line 3 stopped", body="A new stop, different error."))
    harness.settle()
    assert numbers(harness) == ["T-000001", "T-000002"]


def test_someone_else_with_the_same_subject_does_not_join(harness: Harness, smtp_port: int) -> None:
    first_mail(harness, smtp_port)
    send_mail(smtp_port, mail(sender="zoe@other.example", subject="Re: Line 3 stopped", body="Hi"))
    harness.settle()
    assert numbers(harness) == ["T-000001", "T-000002"]
