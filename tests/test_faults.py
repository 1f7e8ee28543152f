"""Faults, the way production meets them: processes killed with -9 under load.

These run real role processes (``switchboard worker``, ``switchboard clock``) on
PostgreSQL and Redis, a real SMTP intake and a slow relay, and kill one mid-work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from config.runtime import System
from config.settings import Settings
from core.models import LiveProcess, OutboxDelivery
from tests.conftest import _postgres_db
from tests.email_support import free_port
from tests.harness import make_settings, wait_until
from tests.services import REDIS_URL, need
from tests.test_embedded import BIN, stop_process

RELAY_SECONDS = 0.3  # a slow relay: a kill lands mid-batch


class SlowRelay:
    """Takes RELAY_SECONDS a mail and remembers every Message-ID it accepted."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(RELAY_SECONDS)
        self.message_ids.append(str(message_from_bytes(envelope.original_content)["Message-ID"]))
        return "250 OK"


@pytest.fixture
def pg_url(postgres_template: str) -> Iterator[str]:
    url, drop = _postgres_db(postgres_template)
    yield url
    drop()


@pytest.fixture
def relay() -> Iterator[tuple[SlowRelay, int]]:
    handler, port = SlowRelay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        {
            "SWITCHBOARD_DATA_DIR": str(settings.data_dir),
            "SWITCHBOARD_DATABASE_URL": settings.effective_database_url,
            "SWITCHBOARD_BROKER_URL": settings.broker_url,
            "SWITCHBOARD_BROKER_QUEUE": settings.broker_queue,
            "SWITCHBOARD_SECRET_KEY": "test-secret",
            "SWITCHBOARD_MAIL_RELAY_HOST": "127.0.0.1",
            "SWITCHBOARD_MAIL_RELAY_PORT": str(settings.mail_relay_port),
            "SWITCHBOARD_MAIL_RELAY_SECURITY": "none",
            "SWITCHBOARD_WORKER_THREADS": "1",
            "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
            "SWITCHBOARD_REDELIVERY_AFTER_SECONDS": "1",
        }
    )
    return env


def _role(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN), role], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
    )


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
    env = _env(settings)
    # Given the SMTP intake here, and one worker process on Redis
    intake = System(settings)
    intake.start_services("smtp")
    worker = _role("worker", env, tmp_path / "worker-1.log")
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
            _role("worker", env, tmp_path / "worker-2.log"),
            _role("clock", env, tmp_path / "clock.log"),
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
