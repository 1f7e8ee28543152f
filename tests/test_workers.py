"""Deliveries through real Dramatiq workers on every broker: retried, parked, never lost, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.runtime import System
from config.settings import Settings
from core.errors import DeliveryError
from core.health import DEGRADED, UP
from core.models import OutboxDelivery
from tests.harness import Harness, RecordingDispatcher, wait_until
from tests.services import AMQP_URL, REDIS_URL, need
from workers import jobs
from workers.sweep import sweep


@pytest.fixture(params=["memory", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        need("Redis", REDIS_URL, 6379)
        return REDIS_URL
    if request.param == "rabbitmq":
        need("RabbitMQ", AMQP_URL, 5672)
        return AMQP_URL
    return "memory://"


def _open(h: Harness, address: str = "client-1", channel: str = "fake") -> int:
    return h.open_ticket(requester=(channel, address, "Lia"))


def _rows(h: Harness) -> list[OutboxDelivery]:
    with h.ctx.db.reading() as s:
        return list(s.execute(select(OutboxDelivery).order_by(OutboxDelivery.id)).scalars())


def test_a_delivery_reaches_the_channel_once_on_every_broker(harness: Harness) -> None:
    _open(harness)
    harness.settle()
    assert [r.status for r in _rows(harness)] == ["sent"]
    assert len(harness.sent()) == 1


def test_a_duplicate_broker_message_for_one_row_sends_once(harness: Harness) -> None:
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    harness.system.broker.send("deliver", row.id)
    harness.system.broker.send("deliver", row.id)
    harness.settle()
    assert len(harness.sent()) == 1


def test_a_failing_channel_is_retried_with_backoff_until_it_works(harness: Harness) -> None:
    fake = harness.system.senders["fake"]
    fake.fail_next = [DeliveryError("connection reset"), DeliveryError("timeout")]  # type: ignore[attr-defined]
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    assert (row.status, row.attempts) == ("sent", 3)
    actions_seen = [e["action"] for e in harness.ticket(1)["audit"]]
    assert actions_seen == ["open", "delivery_retry", "delivery_retry", "delivered"]


def test_an_exhausted_delivery_is_parked_visible_and_can_be_retried(harness: Harness) -> None:
    fake = harness.system.senders["fake"]
    fake.fail_next = [DeliveryError("down")] * harness.settings.delivery_max_attempts  # type: ignore[attr-defined]
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    assert (row.status, row.attempts) == ("parked", harness.settings.delivery_max_attempts)
    _, token = harness.agent("Ana")
    parked = harness.api("GET", "/api/parked", token).json()["parked"]
    assert [(p["id"], p["kind"], p["reason"]) for p in parked] == [
        (f"out-{row.id}", "delivery", "down")
    ]
    assert harness.sent() == []
    response = harness.api("POST", f"/api/parked/out-{row.id}/retry", token)
    assert response.status_code == 200
    harness.settle()
    assert _rows(harness)[0].status == "sent"
    assert len(harness.sent()) == 1


def test_a_platform_outage_outlasting_the_attempts_is_waited_out_not_parked(
    harness: Harness,
) -> None:
    # Twice the attempts a message's own failure gets: the platform is down, not the
    # message wrong, so the acknowledgement waits for it instead of being parked.
    outage = [DeliveryError("503 Service Unavailable", outage=True)] * 6
    assert len(outage) > harness.settings.delivery_max_attempts
    harness.system.senders["fake"].fail_next = list(outage)  # type: ignore[attr-defined]
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    assert (row.status, row.attempts) == ("sent", 7)
    assert len(harness.sent()) == 1
    actions_seen = [e["action"] for e in harness.ticket(1)["audit"]]
    assert actions_seen == ["open"] + ["delivery_retry"] * 6 + ["delivered"]


def test_an_outage_longer_than_the_outage_window_parks_the_delivery(harness: Harness) -> None:
    jobs.runtime().outage_seconds = 0.0  # as SWITCHBOARD_DELIVERY_OUTAGE_HOURS has passed
    harness.system.senders["fake"].fail_next = [  # type: ignore[attr-defined]
        DeliveryError("Telegram unreachable", outage=True)
    ] * harness.settings.delivery_max_attempts
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    assert (row.status, row.attempts) == ("parked", harness.settings.delivery_max_attempts)
    assert harness.sent() == []


def test_deliveries_waiting_out_an_outage_go_as_soon_as_the_platform_answers(
    harness: Harness,
) -> None:
    jobs.runtime().backoff_seconds = 120.0  # their own retry is two minutes away
    harness.system.senders["fake"].fail_next = [  # type: ignore[attr-defined]
        DeliveryError("Slack unreachable", outage=True)
    ] * 2
    _open(harness, "client-1")
    _open(harness, "client-2")
    wait_until(
        lambda: [(r.status, r.attempts) for r in _rows(harness)] == [("pending", 1)] * 2,
        what="both acknowledgements failed once and wait",
    )
    assert harness.system.ctx.health.get(jobs.delivery_part("fake")).state == DEGRADED  # type: ignore[union-attr]
    _open(harness, "client-3")  # its acknowledgement gets through: the platform is back
    harness.settle(timeout=15)  # far less than the two minutes they were to wait
    assert [r.status for r in _rows(harness)] == ["sent", "sent", "sent"]
    assert sorted(m["recipient"] for m in harness.sent()) == ["client-1", "client-2", "client-3"]
    assert harness.system.ctx.health.get(jobs.delivery_part("fake")).state == UP  # type: ignore[union-attr]


def test_a_permanent_refusal_fails_at_once_without_retrying(harness: Harness) -> None:
    harness.system.senders["fake"].fail_next = [DeliveryError("no such user", permanent=True)]  # type: ignore[attr-defined]
    _open(harness)
    harness.settle()
    row = _rows(harness)[0]
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "no such user")


def test_a_channel_without_a_sender_parks_the_delivery_with_the_reason(harness: Harness) -> None:
    _open(harness, address="someone@example.com", channel="telegram")
    harness.settle()
    row = _rows(harness)[0]
    assert row.status == "parked"
    assert "no sender is configured for channel 'telegram'" in (row.last_error or "")


@pytest.fixture
def idle_system(settings: Settings) -> Iterator[System]:
    """A system whose workers are not running yet."""
    system = System(settings)
    yield system
    system.stop()


def test_a_lost_broker_message_is_delivered_after_a_restart(idle_system: System) -> None:
    h = Harness(idle_system)
    # Given a ticket whose delivery message is lost by the broker before any worker saw it
    _open(h)
    idle_system.broker.dramatiq.flush_all()
    idle_system.start_workers()
    with pytest.raises(AssertionError):
        h.settle(timeout=1.0)
    assert h.sent() == []
    # When the process restarts (it re-sends pending work first)
    idle_system.recover()
    h.settle()
    # Then the client gets the acknowledgement, once
    assert [s["kind"] for s in h.sent()] == ["ack"]


def test_the_clock_re_sends_deliveries_that_wait_too_long(idle_system: System) -> None:
    h = Harness(idle_system)
    _open(h)
    idle_system.broker.dramatiq.flush_all()
    idle_system.start_workers()
    assert sweep(h.ctx, timedelta(minutes=5)) == (0, 0), "not overdue yet"
    assert sweep(h.ctx, timedelta(0)) == (1, 0)
    h.settle()
    assert len(h.sent()) == 1


def test_a_restart_hands_over_a_backlog_of_any_size_at_once_in_batches(harness: Harness) -> None:
    """1,234 records stored while no worker ran: one sweep at start hands all of them
    over (a page of 500 at a time, each record once, 20 to a job), not 500 a minute."""
    from core import intake

    recorder = RecordingDispatcher()
    harness.ctx.dispatcher = recorder
    intake.receive_many(
        harness.ctx,
        [intake.Incoming("fake", f"backlog-{n}", b"{}", {}) for n in range(1234)],
        hand_over=False,
    )
    recorder.sent.clear()
    assert sweep(harness.ctx, timedelta(0)) == (0, 1234)
    handed = [int(i) for job, args in recorder.sent for i in str(args[0]).split(",")]
    assert len(handed) == len(set(handed)) == 1234
    assert {job for job, _ in recorder.sent} == {"process_inbound"}
    assert len(recorder.sent) == 1234 // 20 + 1
