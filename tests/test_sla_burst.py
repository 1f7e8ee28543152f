"""A burst of breaches: one checkpoint job escalates a batch and sends its first pings itself."""

from __future__ import annotations

from sqlalchemy import select

from core import audit
from core.escalation import acknowledging
from core.escalation import chain as escalation
from core.models import (
    AuditEvent,
    Escalation,
    EscalationStatus,
    OutboxDelivery,
    SupportQueue,
    Ticket,
)
from core.sla import ticket as sla
from core.sla import watch as slawatch
from tests.harness import Harness, RecordingDispatcher
from tests.sla_support import (
    FakeNow,
    open_ticket,
    policy_settings,  # noqa: F401 (the settings fixture)
    staff,
)
from workers import jobs


def test_a_burst_of_breaches_in_one_job_gets_one_chain_and_one_delivered_ping_per_ticket_and_an_intact_audit(
    harness: Harness, now: FakeNow
) -> None:
    # Given Ben on call and five P1 tickets whose response targets break together
    staff(harness, "Ben")
    tickets = [
        open_ticket(harness, "P1", subject=f"Line {i} is down", address=f"plant-{i}")
        for i in range(5)
    ]
    harness.settle()  # their acknowledgements are delivered (and audited) before the breach
    recorder = RecordingDispatcher()
    harness.ctx.dispatcher = recorder
    now.advance(minutes=16)
    # When the clock hands them to one checkpoint job
    assert slawatch.tick(harness.ctx) == len(tickets)
    (batch,) = [args[0] for job, args in recorder.sent if job == slawatch.JOB]
    recorder.sent.clear()
    jobs.sla_checkpoint(batch)
    # Then every ticket has one chain, copied onto it, and its first ping was sent by
    # the job itself (no deliver job queued for it) and recorded as sent
    assert [job for job, _ in recorder.sent if job == "deliver"] == []
    assert [m["recipient"] for m in harness.sent() if m["kind"] == "escalation"] == [
        "ben-pager"
    ] * len(tickets)
    with harness.ctx.db.reading() as s:
        for ticket_id in tickets:
            (esc,) = s.execute(
                select(Escalation).where(Escalation.ticket_id == ticket_id)
            ).scalars()
            assert esc.status == EscalationStatus.ACTIVE and esc.step_index == 1 and esc.pings == 1
            assert [st["notify"] for st in esc.steps if "notify" in st] == [
                "oncall",
                "group:admins",
            ]
            (ping,) = s.execute(
                select(OutboxDelivery).where(
                    OutboxDelivery.ticket_id == ticket_id, OutboxDelivery.kind == "escalation"
                )
            ).scalars()
            assert ping.status == "sent" and ping.sent_at == now() and ping.external_id
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None and ticket.escalated
            actions_seen = list(
                s.execute(
                    select(AuditEvent.action)
                    .where(AuditEvent.ticket_id == ticket_id)
                    .order_by(AuditEvent.seq)
                ).scalars()
            )
            assert actions_seen[-3:] == ["escalate", "escalation_step", "delivered"]
        report = audit.verify(s)
    assert report.ok, report.problems
    # And the next steps were scheduled, one per chain
    assert len([job for job, _ in recorder.sent if job == escalation.JOB]) == len(tickets)


def test_pings_held_by_a_checkpoint_are_not_sent_once_the_escalation_is_acknowledged(
    harness: Harness, now: FakeNow
) -> None:
    staff(harness, "Ben")
    ticket = open_ticket(harness, "P1", subject="Line 2 is down")
    harness.ctx.dispatcher = RecordingDispatcher()
    now.advance(minutes=16)
    held: list[int] = []
    slawatch.checkpoint_many(harness.ctx, [ticket], held)
    assert len(held) == 1
    # When an agent acknowledges before the job gets to send them
    with harness.ctx.db.transaction() as s:
        locked = s.get(Ticket, ticket, with_for_update=True)
        assert locked is not None
        acknowledging.acknowledge(harness.ctx, s, locked, by="agent:ben")
    jobs.deliver_many(held)
    # Then nothing leaves
    assert [m for m in harness.sent() if m["kind"] == "escalation"] == []
    with harness.ctx.db.reading() as s:
        assert s.get(OutboxDelivery, held[0]).status == "cancelled"  # type: ignore[union-attr]


def test_queue_slugs_are_remembered_per_context_not_per_process(harness: Harness) -> None:
    with harness.ctx.db.transaction() as s:
        queue = s.execute(select(SupportQueue).order_by(SupportQueue.id)).scalars().first()
        assert queue is not None
        assert sla.queue_slug(harness.ctx, s, queue.id) == queue.slug
    assert harness.ctx.slugs == {("queues", queue.id): queue.slug}
