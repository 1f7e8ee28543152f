"""Inbound messages: stored first, decided by named rules, never lost."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from core import audit, intake
from core.intake import records
from core.intake.frontdoor import FrontDoor
from core.models import InboundRecord, Ticket
from core.tickets import lookup, merging, workflow
from core.tokens import reply_token
from core.values import Inbound
from tests.harness import Harness, at_once, wait_until


def test_a_new_message_opens_a_ticket_and_the_client_gets_an_acknowledgement(
    harness: Harness,
) -> None:
    harness.fake.receive(
        "client-1", "The scanner does not power on.", subject="Scanner dead", sender_name="Rosa"
    )
    harness.settle()
    ticket = harness.ticket(harness.only_ticket_number())
    assert ticket["subject"] == "Scanner dead"
    assert ticket["client"] == {
        "contact": "C-000001",
        "name": "Rosa",
        "channel": "fake",
        "address": "client-1",
        "organization": None,
        "hints": [],  # notes a channel adds for the agent (WhatsApp's window); none here
    }
    assert [s["kind"] for s in harness.sent()] == ["ack"]
    intake_events = [e for e in ticket["audit"] if e["action"] == "intake"]
    assert intake_events[0]["data"]["rules"] == ["new_ticket"]


def test_the_same_message_twice_is_one_ticket_even_when_both_arrive_at_once(
    harness: Harness,
) -> None:
    results = []

    def deliver() -> None:
        results.append(
            harness.fake.receive(
                "client-1", "Printer offline", subject="Printer", external_id="msg-42"
            )
        )

    at_once(deliver, deliver)
    harness.settle()
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].record_id == results[1].record_id
    assert harness.tickets()["total"] == 1
    assert len(harness.sent()) == 1, "one acknowledgement, not two"


def test_a_reply_with_the_reply_token_joins_the_ticket_and_reopens_it_if_resolved(
    harness: Harness,
) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive("client-1", "Scanner dead", subject="Scanner")
    harness.settle()
    harness.resolve(1, agent, "Replaced the fuse.")
    harness.fake.receive(
        "client-1", "Still dead after the fuse.", reply_token=reply_token(harness.ctx.secret, 1)
    )
    harness.settle()
    ticket = harness.ticket(1)
    assert harness.tickets()["total"] == 1
    assert ticket["status"] == "acknowledged", "reopened by the client's message"
    assert [m["text"] for m in ticket["thread"]] == ["Scanner dead", "Still dead after the fuse."]


def test_a_forged_reply_token_does_not_join_a_ticket(harness: Harness) -> None:
    harness.fake.receive("client-1", "Scanner dead", subject="Scanner")
    harness.settle()
    harness.fake.receive(
        "client-1", "hello", subject="Other thing", reply_token="1-0000000000000000"
    )
    harness.settle()
    assert harness.tickets()["total"] == 2


def test_a_stranger_pointing_at_a_ticket_gets_a_new_linked_ticket_not_a_seat_in_the_old_one(
    harness: Harness,
) -> None:
    harness.fake.receive("client-1", "Scanner dead", subject="Scanner")
    harness.settle()
    harness.fake.receive("stranger-7", "I have the same problem", subject="Re: [#T-000001] Scanner")
    harness.fake.receive("stranger-8", "me too", reply_token=reply_token(harness.ctx.secret, 1))
    harness.settle()
    assert harness.tickets()["total"] == 3
    assert harness.ticket(2)["linked_from"] == "T-000001"
    assert harness.ticket(3)["linked_from"] == "T-000001"
    assert len(harness.ticket(1)["thread"]) == 1


def test_a_participant_using_the_subject_tag_joins_the_ticket(harness: Harness) -> None:
    harness.fake.receive("client-1", "Scanner dead", subject="Scanner")
    harness.settle()
    harness.fake.receive("client-1", "Any news?", subject="Re: [#T-000001] Scanner")
    harness.settle()
    assert harness.tickets()["total"] == 1
    assert len(harness.ticket(1)["thread"]) == 2


def test_a_message_to_a_closed_ticket_opens_a_new_linked_one(harness: Harness) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive("client-1", "Scanner dead", subject="Scanner")
    harness.settle()
    harness.resolve(1, agent, "Fuse.", close=True)
    harness.fake.receive("client-1", "It broke again", subject="Re: [#T-000001] Scanner")
    harness.settle()
    assert harness.ticket(2)["linked_from"] == "T-000001"
    assert harness.ticket(1)["status"] == "closed"


def test_automatic_messages_are_parked_and_never_answered(harness: Harness) -> None:
    harness.fake.receive(
        "noreply-1",
        "I am out of office until Monday.",
        subject="Out of office",
        automatic="Auto-Submitted: auto-replied",
    )
    harness.settle()
    assert harness.tickets()["total"] == 0
    assert harness.sent() == []
    parked = harness.api("GET", "/api/parked", harness.agent("Ana")[1]).json()["parked"]
    assert [(p["rule"], p["kind"]) for p in parked] == [("automatic", "inbound")]


def test_an_empty_message_is_parked_with_its_reason(harness: Harness) -> None:
    harness.fake.receive("client-1", "   ")
    harness.settle()
    with harness.ctx.db.reading() as s:
        record = s.execute(select(InboundRecord)).scalar_one()
    assert record.status == "parked"
    assert record.rules_fired == ["empty"]
    assert "empty" in (record.reason or "")


def test_input_that_fails_to_process_is_parked_and_succeeds_when_retried(harness: Harness) -> None:
    # Given a processing failure (here: the queue the routing rules pick is missing)
    with harness.ctx.db.transaction() as s:
        s.execute(text("UPDATE queues SET slug = 'renamed' WHERE slug = 'support'"))
    harness.fake.receive("client-1", "Label printer jams", subject="Jams")
    harness.settle()
    with harness.ctx.db.reading() as s:
        record = s.execute(select(InboundRecord)).scalar_one()
    assert record.status == "parked" and "queue" in (record.reason or "")
    assert harness.tickets()["total"] == 0
    # When the operator fixes it and retries
    with harness.ctx.db.transaction() as s:
        s.execute(text("UPDATE queues SET slug = 'support' WHERE slug = 'renamed'"))
    _, token = harness.agent("Ana")
    response = harness.api("POST", f"/api/parked/in-{record.id}/retry", token)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "done"
    harness.settle()
    # Then the ticket exists and the client got the acknowledgement
    assert harness.tickets()["total"] == 1
    assert [s["kind"] for s in harness.sent()] == ["ack"]


def test_unparseable_raw_input_is_kept_and_parked(harness: Harness) -> None:
    result = intake.receive(
        harness.ctx, channel="fake", external_id="broken-1", raw=b"\xff\xfe not json"
    )
    harness.settle()
    with harness.ctx.db.reading() as s:
        record = s.get(InboundRecord, result.record_id)
    assert record is not None
    assert record.status == "parked" and record.rules_fired == ["unparseable"]
    assert record.raw == b"\xff\xfe not json", "the original bytes are kept"


def test_a_client_writing_while_waiting_on_client_resumes_the_ticket(harness: Harness) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive("client-1", "VPN fails", subject="VPN")
    harness.settle()
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 1, lock=True)
        workflow.acknowledge(harness.ctx, s, agent, t)
        workflow.hold(harness.ctx, s, agent, t, reason="waiting_on_client")
    harness.fake.receive("client-1", "Here are the logs", subject="Re: [#T-000001] VPN")
    harness.settle()
    assert harness.ticket(1)["status"] == "in_progress"


def test_merged_tickets_route_later_replies_to_the_surviving_ticket(harness: Harness) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive("client-1", "VPN fails", subject="VPN")
    harness.fake.receive("client-1", "VPN still fails", subject="VPN again")
    harness.settle()
    with harness.ctx.db.transaction() as s:
        merging.merge(
            harness.ctx,
            s,
            agent,
            lookup.get_ticket(s, 2, lock=True),
            into=lookup.get_ticket(s, 1, lock=True),
        )
    harness.fake.receive("client-1", "any news?", reply_token=reply_token(harness.ctx.secret, 2))
    harness.settle()
    assert harness.ticket(2)["merged_into"] == "T-000001"
    assert [m["text"] for m in harness.ticket(1)["thread"]][-1] == "any news?"
    with harness.ctx.db.reading() as s:
        assert s.execute(select(func.count()).select_from(Ticket)).scalar_one() == 2


def test_open_by_the_system_records_the_routing_rule_that_chose_the_priority(
    harness: Harness,
) -> None:
    number = harness.open_ticket("Invoice is wrong", "Please fix the invoice.", ("fake", "c-1", ""))
    ticket = harness.ticket(number)
    assert (ticket["priority"], ticket["category"]) == ("P4", "billing")
    assert ticket["audit"][0]["data"]["priority_reason"] == "rule 'billing words'"


def test_a_batch_of_records_is_decided_together_and_a_failing_one_is_parked_alone(
    harness: Harness, monkeypatch
) -> None:
    received = intake.receive_many(
        harness.ctx,
        [
            intake.Incoming(
                "fake",
                f"batch-{n}",
                intake.inbound_to_json(
                    Inbound(
                        channel="fake",
                        external_id=f"batch-{n}",
                        sender=f"client-{n}",
                        subject=f"Problem {n}",
                        text=f"Problem {n}",
                    )
                ),
                {},
            )
            for n in range(3)
        ]
        + [intake.Incoming("fake", "batch-1", b"{}", {})],
    )
    assert [r.duplicate for r in received] == [False, False, False, True]
    assert received[3].record_id == received[1].record_id
    from core.intake import decide

    original = decide._decide_and_apply

    def fails_for_the_second(ctx, session, record, **how):
        # its ticket, ack and audit events are written, then rolled back
        original(ctx, session, record, **how)
        if record.external_id == "batch-1":
            raise RuntimeError("rule crashed")

    monkeypatch.setattr(decide, "_decide_and_apply", fails_for_the_second)
    intake.process_many(harness.ctx, [r.record_id for r in received[:3]])
    monkeypatch.setattr(decide, "_decide_and_apply", original)
    with harness.ctx.db.reading() as s:
        statuses = dict(s.execute(select(InboundRecord.external_id, InboundRecord.status)).all())
    assert statuses == {"batch-0": "done", "batch-1": "parked", "batch-2": "done"}
    harness.settle()
    assert harness.tickets()["total"] == 2
    assert len(harness.sent()) == 2, "acknowledgements only for the tickets that exist"
    intake.retry(harness.ctx, received[1].record_id)
    harness.settle()
    assert harness.tickets()["total"] == 3
    with harness.ctx.db.reading() as s:
        assert audit.verify(s).ok


def test_an_event_the_channel_finds_odd_in_a_batch_is_parked_and_what_it_wrote_is_gone(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel's event handler that wrote something, then found its payload odd: the
    record is parked as unparseable, what the handler wrote goes, the batch's other
    records are decided as usual."""
    from core import contacts
    from core.errors import IntakeError

    def handle(session, record):
        contacts.find_or_create(session, "fake", f"ghost-of-{record.external_id}")
        if record.external_id == "odd-1":
            raise IntakeError("the payload names a chat that does not exist")
        return None  # not an event: decided as a client message

    monkeypatch.setitem(harness.ctx.event_handlers, "fake", handle)
    received = intake.receive_many(
        harness.ctx,
        [
            intake.Incoming(
                "fake",
                f"odd-{n}",
                intake.inbound_to_json(
                    Inbound(channel="fake", external_id=f"odd-{n}", sender=f"c-{n}", text="Hi")
                ),
                {},
            )
            for n in range(3)
        ],
        hand_over=False,
    )
    intake.process_many(harness.ctx, [r.record_id for r in received])
    with harness.ctx.db.reading() as s:
        records = {
            r.external_id: (r.status, r.reason) for r in s.execute(select(InboundRecord)).scalars()
        }
        assert records["odd-1"] == ("parked", "the payload names a chat that does not exist")
        assert records["odd-0"][0] == records["odd-2"][0] == "done"
        assert contacts.find_identity(s, "fake", "ghost-of-odd-1") is None
        assert contacts.find_identity(s, "fake", "ghost-of-odd-0") is not None
    assert harness.tickets()["total"] == 2


def test_control_characters_a_client_sent_never_stop_a_ticket(harness: Harness) -> None:
    """NULs in a subject, a name, a body (PostgreSQL refuses them in text) are taken out."""
    harness.fake.receive(
        "client-\x01",
        "Scanner\x00 shows E42\x07\n\tsince noon",
        subject="Scan\x00ner",
        sender_name="Ola\x00",
    )
    harness.settle()
    ticket = harness.ticket(1)
    assert ticket["subject"] == "Scanner"
    assert ticket["thread"][0]["text"] == "Scanner shows E42\n\tsince noon"


@pytest.mark.parametrize("backend", ["sqlite"])  # one writer at a time: a batch must make way
def test_a_message_arriving_while_a_batch_is_decided_is_stored_before_the_batch_ends(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def incoming(name: str) -> intake.Incoming:
        inbound = Inbound(channel="fake", external_id=name, sender=name, subject=name, text=name)
        return intake.Incoming("fake", name, intake.inbound_to_json(inbound), {})

    batch = intake.receive_many(
        harness.ctx, [incoming(f"queued-{n}") for n in range(5)], hand_over=False
    )
    from core.intake import decide

    original = decide._decide_and_apply
    lock = harness.ctx.db.write_lock
    assert lock is not None
    arrived, stored = threading.Event(), threading.Event()

    def decide_in_step(ctx, session, record, **how):
        original(ctx, session, record, **how)
        if record.external_id == "queued-0":  # a client's message arrives meanwhile
            arrived.set()
            wait_until(lambda: lock.preferred_is_waiting(), what="the front door to wait")
            time.sleep(decide.MAKE_WAY_AFTER)  # the batch has held the lock that long now
        elif record.external_id.startswith("queued-") and not stored.wait(30):
            raise AssertionError("the new message was not stored while the batch went on")

    monkeypatch.setattr(decide, "_decide_and_apply", decide_in_step)
    deciding = threading.Thread(
        target=intake.process_many, args=(harness.ctx, [r.record_id for r in batch])
    )
    deciding.start()
    assert arrived.wait(15)
    door = FrontDoor(harness.ctx)
    received = door.store(incoming("arrived"))  # answered after one decision, not five
    stored.set()
    deciding.join(60)
    assert not received.duplicate
    harness.settle()
    with harness.ctx.db.reading() as s:
        statuses = dict(s.execute(select(InboundRecord.external_id, InboundRecord.status)).all())
    assert statuses == {**{f"queued-{n}": "done" for n in range(5)}, "arrived": "done"}
    assert harness.tickets()["total"] == 6


def test_a_payload_whose_written_key_is_stored_is_a_duplicate_whatever_its_external_id(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second key: stored before, or earlier in the same batch, it makes a payload a
    duplicate of that record, found up front (no batch stored one by one for it); a
    payload without one is kept apart by its external id alone."""
    first = intake.receive(
        harness.ctx, channel="fake", external_id="copy-a", raw=b"{}", written_key="w-1"
    )
    assert not first.duplicate
    stored_one_by_one: list[str] = []
    monkeypatch.setattr(
        records, "_receive_one", lambda ctx, item: stored_one_by_one.append(item.external_id)
    )
    received = intake.receive_many(
        harness.ctx,
        [
            intake.Incoming("fake", "copy-b", b"{}", {}, written_key="w-1"),  # stored: copy-a
            intake.Incoming("fake", "copy-a", b"{}", {}, written_key="w-9"),  # stored: copy-a
            intake.Incoming("fake", "other-1", b"{}", {}, written_key="w-2"),  # new
            intake.Incoming("fake", "other-2", b"{}", {}, written_key="w-2"),  # other-1 again
            intake.Incoming("fake", "other-1", b"{}", {}),  # other-1 again
            intake.Incoming("fake", "plain", b"{}", {}),  # new, no written key
            intake.Incoming("alerts", "copy-c", b"{}", {}, written_key="w-1"),  # another channel
        ],
        hand_over=False,
    )
    assert stored_one_by_one == []
    assert [r.duplicate for r in received] == [True, True, False, True, True, False, False]
    assert received[0].record_id == received[1].record_id == first.record_id
    assert received[2].record_id == received[3].record_id == received[4].record_id
    monkeypatch.undo()
    # and on the single path too, whichever key is already there
    for external_id, key, duplicate in (
        ("copy-d", "w-2", True),  # other-1's written key
        ("plain", "w-4", True),  # plain's external id
        ("other-3", None, False),
    ):
        again = intake.receive(
            harness.ctx, channel="fake", external_id=external_id, raw=b"{}", written_key=key
        )
        assert again.duplicate == duplicate, external_id
    with harness.ctx.db.reading() as s:
        stored = s.execute(
            select(InboundRecord.channel, InboundRecord.external_id, InboundRecord.written_key)
        ).all()
    assert sorted(tuple(r) for r in stored) == [
        ("alerts", "copy-c", "w-1"),
        ("fake", "copy-a", "w-1"),
        ("fake", "other-1", "w-2"),
        ("fake", "other-3", None),
        ("fake", "plain", None),
    ]
