"""Autoresponders that look like people: known by how fast they answer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import InboundRecord
from tests.harness import Harness
from tests.sla_support import FakeNow

REPLY = "Thank you for your message. We will get back to you as soon as possible."


@pytest.fixture(autouse=True)
def machine_speed_on(harness: Harness) -> None:
    harness.ctx.machine_answer_seconds = 20.0  # the default; the harness turns it off


def acks_to(harness: Harness, address: str) -> int:
    return sum(1 for s in harness.sent() if s["kind"] == "ack" and s["recipient"] == address)


def test_an_autoresponder_answering_within_seconds_stops_the_loop_at_once(
    harness: Harness, now: FakeNow
) -> None:
    harness.fake.receive("desk@vendor", "Our scanner is down.", subject="Scanner")
    harness.settle()
    assert acks_to(harness, "desk@vendor") == 1
    for _ in range(4):  # it answers every acknowledgement 3 s later, neutral subject
        now.advance(seconds=3)
        harness.fake.receive("desk@vendor", REPLY, subject="Your message")
        harness.settle()
    assert acks_to(harness, "desk@vendor") == 1, "nothing more is sent to the machine"
    assert harness.tickets()["total"] == 2, "its first quick answer is kept as a ticket"
    with harness.ctx.db.reading() as s:
        records = s.execute(select(InboundRecord).order_by(InboundRecord.id)).scalars().all()
    assert [r.status for r in records] == ["done", "done", "parked", "parked", "parked"]
    parked = [r for r in records if r.status == "parked"]
    assert parked and all(r.rules_fired == ["machine_speed"] for r in parked)
    assert "an autoresponder" in (parked[0].reason or "")


def test_a_person_writing_again_soon_after_is_still_answered_and_never_parked(
    harness: Harness, now: FakeNow
) -> None:
    harness.fake.receive("ola@client", "The printer jams.", subject="Printer")
    harness.settle()
    now.advance(seconds=8)  # "forgot to say": quick, but once
    harness.fake.receive("ola@client", "It is the one on floor 2.", subject="Floor 2")
    harness.settle()
    now.advance(minutes=5)  # read the acknowledgement, then wrote about something else
    harness.fake.receive("ola@client", "Also the badge reader.", subject="Badge reader")
    harness.settle()
    assert harness.tickets()["total"] == 3
    assert acks_to(harness, "ola@client") == 2, "only the follow-up within seconds had none"
    with harness.ctx.db.reading() as s:
        statuses = s.execute(select(InboundRecord.status)).scalars().all()
    assert "parked" not in statuses


def test_a_client_typing_several_lines_in_a_chat_is_a_person(
    harness: Harness, now: FakeNow
) -> None:
    for line in ("Hi", "the gate is stuck", "at entrance 4", "since this morning"):
        harness.fake.receive("tg-7", line, chat="tg-7")
        harness.settle()
        now.advance(seconds=2)
    assert harness.tickets()["total"] == 1
    assert len(harness.ticket(1)["thread"]) == 4
