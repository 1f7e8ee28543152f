"""Faults, the way production meets them: processes killed with -9 under load.

These run real role processes (``switchboard worker``, ``switchboard clock``) on
PostgreSQL and Redis, a real SMTP intake and a slow relay, and kill one mid-work.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from config.runtime import System
from core.models import LiveProcess, OutboxDelivery, Ticket
from tests.email_support import free_port
from tests.fault_support import (
    RetryingSenders,
    SlowRelay,
    relayed,
    role_env,
    send_mail,
    smtp_up,
    status_of,
    storm_mail,
)
from tests.harness import (
    BIN,
    Harness,
    make_settings,
    process_env,
    start_role,
    stop_process,
    wait_started,
    wait_until,
)
from tests.services import REDIS_URL, need
from tests.throwaway import ThrowawayPostgres, ThrowawayRedis


def test_a_worker_killed_mid_batch_resends_at_most_the_mail_in_flight_and_frees_the_rest_in_seconds(
    tmp_path: Path, pg_url: str, relay: tuple[SlowRelay, int]
) -> None:
    need("Redis", REDIS_URL, 6379)
    handler, relay_port = relay
    settings = make_settings(
        tmp_path,
        pg_url,
        REDIS_URL,
        smtp_port=free_port(),
        mail_relay_host="127.0.0.1",
        mail_relay_port=relay_port,
        mail_relay_security="none",
        auto_reply_limit_per_hour=1000,
    )
    env = role_env(settings)
    # Given the SMTP intake here, and one worker process on Redis
    intake = System(settings)
    intake.start_services("smtp")
    worker = start_role(["worker"], env, tmp_path / "worker-1.log")
    others: list[subprocess.Popen[str]] = []
    try:

        def processes() -> int:
            with intake.ctx.db.reading() as session:
                return int(
                    session.execute(select(func.count()).select_from(LiveProcess)).scalar_one()
                )

        wait_until(lambda: processes() >= 2, timeout=30, what="the worker alive")
        # When 30 clients write at once: the worker decides them in batches and sends
        # the batch's acknowledgements one after the other through the slow relay
        with smtplib.SMTP("127.0.0.1", settings.smtp_port, timeout=30) as smtp:
            for n in range(30):
                smtp.sendmail(
                    f"client{n}@client.example",
                    ["support@localhost"],
                    (
                        f"From: client{n}@client.example\r\nTo: support@localhost\r\n"
                        f"Subject: Printer {n} jammed\r\nMessage-ID: <p{n}@client.example>\r\n\r\n"
                        "Jammed again.\r\n"
                    ).encode(),
                )
        wait_until(lambda: len(handler.message_ids) >= 5, timeout=60, what="five mails relayed")
        # and the worker is killed mid-batch
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = time.monotonic()
        sent_before_kill = len(handler.message_ids)
        # Then a new worker and the clock take over
        others = [
            start_role(["worker"], env, tmp_path / "worker-2.log"),
            start_role(["clock"], env, tmp_path / "clock.log"),
        ]

        def all_sent() -> bool:
            with intake.ctx.db.reading() as session:
                sent = session.execute(
                    select(func.count())
                    .select_from(OutboxDelivery)
                    .where(OutboxDelivery.kind == "ack", OutboxDelivery.status == "sent")
                ).scalar_one()
            return sent == 30 and len(set(handler.message_ids)) == 30

        wait_until(all_sent, timeout=120, what="every acknowledgement sent")
        recovered = time.monotonic() - killed_at
    finally:
        worker.kill()
        for process in others:
            stop_process(process)
        intake.stop()
    # Every client got one acknowledgement; at most the one in flight at the kill twice
    duplicates = len(handler.message_ids) - len(set(handler.message_ids))
    assert duplicates <= 1, (duplicates, sent_before_kill)
    # and the rows the dead worker held were freed in seconds, not after a 5-minute lease
    assert recovered < 60, recovered


# The database away -------------------------------------------------------------------------


def test_postgresql_stopped_answers_503_and_451_logs_the_outage_once_and_comes_back_by_itself(
    tmp_path: Path,
) -> None:
    """A throwaway cluster stopped under `switchboard up`: API 503 with Retry-After, SMTP
    451 (the sender retries), /healthz says which part without its internals, one log
    line when it goes and one when it is back; after the restart everything works."""
    pg = ThrowawayPostgres()
    try:
        pg.start()
        url = pg.create_database("switchboard")
        http_port, smtp_port = free_port(), free_port()
        env = process_env(
            {
                "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
                "SWITCHBOARD_DATABASE_URL": url,
                "SWITCHBOARD_HTTP_PORT": str(http_port),
                "SWITCHBOARD_SMTP_PORT": str(smtp_port),
                "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
                "SWITCHBOARD_SECRET_KEY": "test-secret",
            }
        )
        subprocess.run([str(BIN), "migrate"], env=env, check=True, capture_output=True)
        added = subprocess.run(
            [str(BIN), "agents", "add", "Ana", "ana@example.com", "--json"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {json.loads(added.stdout)['token']}"}
        log = tmp_path / "up.log"
        up = start_role(["up"], env, log)
        base = f"http://127.0.0.1:{http_port}"
        try:
            wait_started(up, log)
            pg.stop()
            answers = [httpx.get(f"{base}/api/tickets", headers=headers) for _ in range(30)]
            assert {a.status_code for a in answers} == {503}
            assert {a.headers.get("retry-after") for a in answers} == {"5"}
            assert answers[0].json()["error"]["code"] == "unavailable.database"
            # A write under an Idempotency-Key is answered the same, and its key kept free
            keyed = {**headers, "Idempotency-Key": "during-outage"}
            note = {"subject": "Scale", "text": "Off by 2 kg.", "requester": {"address": "c@x.org"}}
            during = httpx.post(f"{base}/api/tickets", headers=keyed, json=note)
            assert during.status_code == 503, during.text
            assert during.json()["error"]["code"] == "unavailable.database"
            health = httpx.get(f"{base}/healthz")
            assert health.status_code == 503 and health.headers["retry-after"] == "5"
            assert health.json()["database"] == "unreachable"
            assert "127.0.0.1" not in health.text, health.text
            for n in range(5):
                with pytest.raises(smtplib.SMTPDataError) as refused:
                    send_mail(smtp_port, f"Printer {n} is down")
                assert refused.value.smtp_code == 451
            time.sleep(2)  # the clock ticks 4 times meanwhile, failing each time
            pg.start()
            wait_until(lambda: status_of(f"{base}/api/tickets", headers) == 200, 30, "the API back")
            send_mail(smtp_port, "Printer 9 is down")
            wait_until(
                lambda: httpx.get(f"{base}/api/tickets", headers=headers).json()["total"] == 1,
                30,
                "the mail sent after the restart to become a ticket",
            )
            assert httpx.get(f"{base}/healthz").json()["database"] == "ok"
            after = httpx.post(f"{base}/api/tickets", headers=keyed, json=note)
            assert after.status_code == 201, after.text
        finally:
            stop_process(up)
        printed = log.read_text()
        assert "Traceback" not in printed, printed[-4000:]
        assert printed.count("database is down") == 1, printed[-4000:]
        assert printed.count("database is up again") == 1, printed[-4000:]
    finally:
        pg.remove()


# The broker away ---------------------------------------------------------------------------


def test_redis_stopped_takes_mail_all_the_same_says_so_once_and_drains_when_it_returns(
    tmp_path: Path,
) -> None:
    """The broker (a throwaway Redis) killed under `switchboard up`: every mail is still
    answered 250 and stored, /healthz says the broker is down, the log says so once
    and once again when it is back, and the backlog becomes tickets by itself."""
    redis_server = ThrowawayRedis()
    redis_server.start()
    http_port, smtp_port = free_port(), free_port()
    env = process_env(
        {
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            "SWITCHBOARD_BROKER_URL": redis_server.url,
            "SWITCHBOARD_HTTP_PORT": str(http_port),
            "SWITCHBOARD_SMTP_PORT": str(smtp_port),
            "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
            "SWITCHBOARD_REDELIVERY_AFTER_SECONDS": "1",
            "SWITCHBOARD_SECRET_KEY": "test-secret",
        }
    )
    log = tmp_path / "up.log"
    up = start_role(["up"], env, log)
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_started(up, log)
        subprocess.run([str(BIN), "agents", "add", "Ana", "ana@example.com"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        redis_server.kill()
        for n in range(20):
            send_mail(smtp_port, f"Printer {n} is down", sender=f"client{n}@client.example")
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200, "the web app still takes requests"
        assert health.json()["status"] == "degraded"
        assert health.json()["parts"]["broker"] == "down"
        assert "6379" not in health.text and str(redis_server.port) not in health.text
        time.sleep(2)  # the clock's sweep tries to hand the backlog over 4 times meanwhile
        redis_server.start()  # same port, empty: what was queued before is gone
        wait_until(
            lambda: _tickets(env) == 20, 60, "the 20 mails stored during the outage as tickets"
        )
        wait_until(
            lambda: httpx.get(f"{base}/healthz").json()["parts"].get("broker") == "up",
            30,
            "the broker reported up again",
        )
    finally:
        stop_process(up)
        redis_server.kill()
    printed = log.read_text()
    assert "Traceback" not in printed, printed[-4000:]
    assert printed.count("broker is down") == 1, printed[-4000:]
    assert printed.count("broker is up again") == 1, printed[-4000:]


def _tickets(env: dict[str, str]) -> int:
    listed = subprocess.run(
        [str(BIN), "tickets", "list", "--json"], env=env, capture_output=True, text=True
    )
    return int(json.loads(listed.stdout)["total"]) if listed.returncode == 0 else -1


# Duplicate storms --------------------------------------------------------------------------


def test_every_mail_delivered_three_times_at_once_through_different_relays_is_one_ticket(
    harness: Harness, smtp_port: int
) -> None:
    """30 mails (half without a Message-ID), each sent three times by three relays at
    once, each copy with its own Received: trail: 30 tickets, 30 acknowledgements."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.email_support import maildir_messages

    copies: list[bytes] = []
    for n in range(30):
        message = storm_mail(n, f"Scanner {n} shows E42", f"Scanner {n} stopped at noon.")
        copies.extend(relayed(message, relay) for relay in range(3))

    def send(raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("relay@mx.example", ["support@localhost"], raw)

    with ThreadPoolExecutor(max_workers=9) as pool:
        list(pool.map(send, copies))
    harness.settle(timeout=60)
    tickets = harness.tickets(limit=100)
    assert tickets["total"] == 30
    assert sorted(t["subject"] for t in tickets["tickets"]) == sorted(
        f"Scanner {n} shows E42" for n in range(30)
    )
    acks = [str(m["To"]) for m in maildir_messages(harness.settings.maildir_path)]
    assert sorted(acks) == sorted(f"client{n}@client.example" for n in range(30))


# The SMTP edge killed ----------------------------------------------------------------------


def test_the_smtp_role_killed_under_load_loses_nothing_it_answered_and_retries_make_no_twins(
    tmp_path: Path, pg_url: str
) -> None:
    """Four senders that retry as an MTA does (until a 250) write 120 mails to the smtp
    role while it is killed with SIGKILL and started again: every mail is one ticket,
    however many times it was offered, and every mail answered 250 is there."""
    need("Redis", REDIS_URL, 6379)
    settings = make_settings(tmp_path, pg_url, REDIS_URL, smtp_port=free_port())
    env = {
        **role_env(settings),
        "SWITCHBOARD_SMTP_PORT": str(settings.smtp_port),
        "SWITCHBOARD_MAIL_RELAY_HOST": "",  # acknowledgements to the maildir
    }
    smtp_role = start_role(["smtp"], env, tmp_path / "smtp-1.log")
    # The clock hands over what a killed edge stored but never handed to the broker.
    helpers = [start_role([role], env, tmp_path / f"{role}.log") for role in ("worker", "clock")]
    senders = RetryingSenders(settings.smtp_port, 120)
    system = System(settings)
    try:
        wait_until(lambda: smtp_up(settings.smtp_port), 30, "the smtp role listening")
        senders.start()
        wait_until(lambda: len(senders.answered) >= 30, 60, "30 mails answered")
        os.kill(smtp_role.pid, signal.SIGKILL)
        smtp_role.wait(timeout=10)
        time.sleep(1)
        smtp_role = start_role(["smtp"], env, tmp_path / "smtp-2.log")
        senders.join()
        assert senders.answered == set(range(120)), "every sender got its 250 in the end"

        def tickets() -> list[str]:
            with system.ctx.db.reading() as session:
                return [
                    t.subject for t in session.execute(select(Ticket).order_by(Ticket.id)).scalars()
                ]

        wait_until(lambda: len(tickets()) >= 120, 90, "120 tickets")
        time.sleep(1)  # a twin would be decided by now
        assert sorted(tickets()) == sorted(f"Door {n} stuck" for n in range(120))
        assert senders.offers >= 120
    finally:
        smtp_role.kill()
        for process in helpers:
            stop_process(process)
        system.stop()
