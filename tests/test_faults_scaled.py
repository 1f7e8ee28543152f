"""Faults of the scaled deployment: the roles of the Procfile as processes of their own
on PostgreSQL, one part of it stopped or killed under load.

- A throwaway RabbitMQ node (``tests/throwaway.py``), the roles' Dramatiq broker,
  killed while mail and API writes come in, and started again.
- The clock role killed alone with SIGKILL while SLA checkpoints come due, and
  started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from config.runtime import System
from core.dispatch import NullDispatcher
from core.models import Agent, OutboxDelivery, Ticket
from tests.email_support import free_port
from tests.fault_support import (
    RetryingSenders,
    SlowRelay,
    role_env,
    smtp_up,
    status_of,
)
from tests.harness import BIN, Harness, make_settings, start_role, stop_process, wait_until
from tests.services import REDIS_URL, need
from tests.sla_support import POLICY, FakeNow, open_ticket, staff
from tests.throwaway import ThrowawayRabbitMQ


@pytest.fixture
def rabbitmq() -> Iterator[ThrowawayRabbitMQ]:
    node = ThrowawayRabbitMQ()
    try:
        node.start()
        yield node
    finally:
        node.remove()


def _agent_token(env: dict[str, str]) -> dict[str, str]:
    added = subprocess.run(
        [str(BIN), "agents", "add", "Ana", "ana@example.com", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return {"Authorization": f"Bearer {json.loads(added.stdout)['token']}"}


def _broker_part(base: str) -> Any:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).json()["parts"].get("broker")
    except (httpx.HTTPError, ValueError):
        return None


def test_rabbitmq_killed_under_load_loses_no_mail_sends_every_ack_once_and_recovers_by_itself(
    tmp_path: Path, pg_url: str, relay: tuple[SlowRelay, int], rabbitmq: ThrowawayRabbitMQ
) -> None:
    """The roles web, smtp, worker and clock on a RabbitMQ node of the test's own.
    Three MTAs write 90 mails and an agent opens tickets through the API while the
    node is killed (SIGKILL) and, 5 s later, started again: every mail answered 250
    and every ticket answered 201 is one ticket, every acknowledgement reaches the
    relay once, the web role says the broker is down meanwhile and up again after,
    by itself."""
    handler, relay_port = relay
    handler.seconds = 0.02  # a fast relay: the outage, not the relay, is the subject
    settings = make_settings(
        tmp_path,
        pg_url,
        rabbitmq.url,
        smtp_port=free_port(),
        mail_relay_host="127.0.0.1",
        mail_relay_port=relay_port,
        mail_relay_security="none",
        auto_reply_limit_per_hour=1000,
    )
    http_port = free_port()
    env = {
        **role_env(settings),
        "SWITCHBOARD_SMTP_PORT": str(settings.smtp_port),
        "SWITCHBOARD_HTTP_PORT": str(http_port),
        "SWITCHBOARD_WORKER_THREADS": "2",
    }
    headers = _agent_token(env)
    base = f"http://127.0.0.1:{http_port}"
    roles = {role: start_role([role], env, tmp_path / f"{role}.log") for role in ("web", "smtp", "worker", "clock")}  # fmt: skip
    senders = RetryingSenders(settings.smtp_port, 90, threads=3, patience=180)
    system = System(settings)
    opened: list[str] = []

    def open_ticket(n: int) -> None:
        subject = f"Scale {n} off"
        note = {
            "subject": subject,
            "text": "Off by 2 kg.",
            "requester": {"channel": "email", "address": f"api{n}@client.example"},
        }
        keyed = {**headers, "Idempotency-Key": f"scale-{n}"}
        answer = httpx.post(f"{base}/api/tickets", headers=keyed, json=note, timeout=30)
        assert answer.status_code == 201, answer.text
        opened.append(subject)

    try:
        wait_until(lambda: status_of(f"{base}/healthz") == 200, 60, "the web role answering")
        wait_until(lambda: smtp_up(settings.smtp_port), 60, "the smtp role listening")
        senders.start()
        open_ticket(0)
        wait_until(lambda: len(senders.answered) >= 20, 90, "20 mails answered")
        # When the node is killed under load
        rabbitmq.kill()
        killed_at = time.monotonic()
        # the API still opens tickets (stored; handed over later), and the web role says so
        for n in range(1, 6):
            open_ticket(n)
        wait_until(
            lambda: _broker_part(base) == "down", 30, "the web role reporting the broker down"
        )
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        assert str(rabbitmq.port) not in health.text, health.text
        answered_during = len(senders.answered)
        wait_until(
            lambda: len(senders.answered) >= answered_during + 10 or len(senders.answered) == 90,
            60,
            "mail answered 250 while the broker is down",
        )
        time.sleep(max(0.0, 5 - (time.monotonic() - killed_at)))  # an outage of 5 s or more
        # Then the node comes back on the same port, with what it had made durable
        rabbitmq.start()
        restarted_at = time.monotonic()
        senders.join()
        assert senders.answered == set(range(90)), "every MTA got its 250 in the end"
        for n in range(6, 9):
            open_ticket(n)

        def acks_sent() -> int:
            with system.ctx.db.reading() as session:
                return int(
                    session.execute(
                        select(func.count())
                        .select_from(OutboxDelivery)
                        .where(OutboxDelivery.kind == "ack", OutboxDelivery.status == "sent")
                    ).scalar_one()
                )

        wait_until(
            lambda: acks_sent() == 99 and len(set(handler.message_ids)) == 99,
            180,
            "every acknowledgement sent (90 mails, 9 API tickets)",
        )
        drained = time.monotonic() - restarted_at
        wait_until(lambda: _broker_part(base) == "up", 30, "the web role reporting the broker up")
        time.sleep(2)  # a twin decision or a second send would show by now
        with system.ctx.db.reading() as session:
            subjects = sorted(session.execute(select(Ticket.subject)).scalars())
        assert subjects == sorted([f"Door {n} stuck" for n in range(90)] + opened)
        assert len(handler.message_ids) == len(set(handler.message_ids)) == 99, (
            "an acknowledgement sent twice"
        )
        for role, process in roles.items():
            assert process.poll() is None, f"the {role} role exited"
        print(f"RabbitMQ outage: backlog drained {drained:.1f} s after the node was back")
    finally:
        for process in roles.values():
            stop_process(process)
        system.stop()
    web_log = (tmp_path / "web.log").read_text()
    assert web_log.count("broker is down") == 1, web_log[-4000:]
    assert web_log.count("broker is up again") == 1, web_log[-4000:]
    for role in ("web", "smtp", "clock"):
        printed = (tmp_path / f"{role}.log").read_text()
        assert "Traceback" not in printed, (role, printed[-4000:])


# The clock killed alone --------------------------------------------------------------------


def test_the_clock_killed_alone_resumes_checkpoints_and_sweeps_and_fires_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    """The worker and clock roles on PostgreSQL and Redis. P1 tickets were opened as if
    minutes ago (their acknowledgements never handed to the broker: only the clock's
    sweep hands them over): some at risk now (a warning to their agent), some breached
    now, some breaching while the clock is dead (killed with SIGKILL), and more opened
    while it is dead. When it is started again, every warning, escalation ping and
    acknowledgement goes out exactly once."""
    need("Redis", REDIS_URL, 6379)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    settings = make_settings(tmp_path, pg_url, REDIS_URL, config_file=policy)
    env = {**role_env(settings), "SWITCHBOARD_CONFIG_FILE": str(policy)}
    system = System(settings)
    harness = Harness(system)
    system.ctx.dispatcher = NullDispatcher()  # what this process stores waits for the sweep
    for name in ("Ana", "Ben"):  # the rotation's agents: whoever is on call gets the pings
        staff(harness, name)
    real_now = system.ctx.now

    def opened(count: int, minutes_ago: float, group: str) -> list[int]:
        system.ctx.now = FakeNow(real_now() - timedelta(minutes=minutes_ago))
        try:
            return [
                open_ticket(harness, "P1", subject=f"{group} {n} down", address=f"{group}-{n}")
                for n in range(count)
            ]
        finally:
            system.ctx.now = real_now

    at_risk = opened(5, 12.5, "risk")  # P1: 15 minutes to respond; at risk after 12
    with system.ctx.db.transaction() as session:
        ben = session.execute(select(Agent).where(Agent.name == "Ben")).scalar_one()
        for ticket_id in at_risk:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.assignee_id = ben.id
    breached = opened(8, 16, "breached")
    worker = start_role(["worker"], env, tmp_path / "worker.log")
    clock = start_role(["clock"], env, tmp_path / "clock-1.log")
    later: list[int] = []
    try:

        def sent(kind: str) -> dict[str, int]:
            counts: dict[str, int] = {}
            for item in harness.sent():
                if item["kind"] == kind:
                    counts[item["ticket_number"]] = counts.get(item["ticket_number"], 0) + 1
            return counts

        wait_until(lambda: len(sent("escalation")) >= 3, 60, "the first escalation pings")
        breaching = opened(8, 15 - 8 / 60, "late")  # due 8 s from now
        # When the clock is killed mid-work
        os.kill(clock.pid, signal.SIGKILL)
        clock.wait(timeout=10)
        later = opened(5, 0, "later")  # stored while it is dead: only a sweep hands them over
        time.sleep(10)  # the late ones breach while no clock runs
        assert len(sent("escalation")) <= len(breached), "a checkpoint ran with no clock"
        # Then it is started again
        clock = start_role(["clock"], env, tmp_path / "clock-2.log")
        with system.ctx.db.reading() as session:
            numbers = {t.id: t.number for t in session.execute(select(Ticket)).scalars()}
        escalated = {numbers[i] for i in breached + breaching}
        warned = {numbers[i] for i in at_risk}
        everyone = set(numbers.values())
        wait_until(lambda: set(sent("escalation")) >= escalated, 120, "every breach escalated")
        wait_until(lambda: set(sent("sla_warning")) >= warned, 60, "every risk warned")
        wait_until(lambda: set(sent("ack")) >= everyone, 60, "every acknowledgement sent")
        time.sleep(3)  # a second ping or warning would show by now (the clock ticks 6 times)
        assert set(sent("escalation")) == escalated, "escalated what was not breached"
        assert set(sent("escalation").values()) == {1}, sent("escalation")
        assert set(sent("sla_warning").values()) == {1}, sent("sla_warning")
        assert set(sent("ack").values()) == {1}, sent("ack")
        assert worker.poll() is None
    finally:
        clock.kill()
        stop_process(worker)
        system.stop()
    assert len(later) == 5
