"""Fixtures that run the real system: real database, real Dramatiq worker.

``backend`` runs a test on SQLite and on PostgreSQL; ``system`` is a whole
Switchboard (context, broker, worker threads) on a fresh database; ``harness``
adds the fake channel, agents and an API client on top.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner

from config.runtime import System, migrate
from config.settings import Settings, load_settings
from tests.email_support import (
    free_port,
    smtp_port,  # noqa: F401  (the SMTP intake server fixture)
)
from tests.fakeslack import FakeSlack
from tests.faketelegram import FakeTelegram
from tests.fakewhatsapp import FakeWhatsApp
from tests.fault_support import SlowRelay
from tests.harness import Harness, make_settings
from tests.services import POSTGRES_URL, need, postgres_database
from tests.sla_support import MONDAY_9, FakeNow
from tests.slack_support import SlackDriver, slack_settings
from tests.telegram_support import TelegramDriver
from tests.whatsapp_support import WhatsAppDriver

Fake = TypeVar("Fake", FakeSlack, FakeWhatsApp, FakeTelegram)

_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for every test."""
    root = tmp_path_factory.mktemp("sqlite-template")
    migrate(load_settings(data_dir=root, secret_key="test-secret"))
    return root / "switchboard.db"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for each test's database."""
    need("PostgreSQL", POSTGRES_URL, 5432)
    name = f"sbtmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url, drop = postgres_database(name)
    migrate(load_settings(data_dir=Path("/tmp"), database_url=url, secret_key="test-secret"))
    yield name
    drop()


def _postgres_db(template: str) -> tuple[str, Callable[[], None]]:
    """A test's own database, a copy of the migrated ``template``: its URL and its drop."""
    return postgres_database(f"sbt_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}", template)


@pytest.fixture
def pg_url(postgres_template: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own (for role processes, which need one)."""
    url, drop = _postgres_db(postgres_template)
    yield url
    drop()


@pytest.fixture
def relay() -> Iterator[tuple[SlowRelay, int]]:
    """A mail relay on a free port that takes its time and remembers every Message-ID."""
    from aiosmtpd.controller import Controller

    handler, port = SlowRelay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "switchboard.db")
        yield f"sqlite:///{tmp_path / 'switchboard.db'}"
    else:
        url, drop = _postgres_db(request.getfixturevalue("postgres_template"))
        yield url
        drop()


@pytest.fixture
def broker_url() -> str:
    return "memory://"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Iterator[Settings]:
    settings = make_settings(tmp_path, database_url, broker_url)
    yield settings
    if broker_url.startswith("amqp"):  # RabbitMQ keeps durable queues: remove this test's
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        channel = connection.channel()
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(queue=settings.broker_queue + suffix)
        connection.close()


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    system = System(settings)
    system.start_workers()
    yield system
    system.stop()


@pytest.fixture
def harness(system: System) -> Harness:
    return Harness(system)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The ``switchboard`` command, on this test's database and broker."""
    for name, value in {
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "BROKER_URL": settings.broker_url,
        "BROKER_QUEUE": settings.broker_queue,
        "CONFIG_FILE": str(settings.config_file) if settings.config_file else None,
    }.items():
        if value is not None:
            monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    return CliRunner()


@pytest.fixture
def now(harness: Harness) -> Iterator[FakeNow]:
    """A clock the test moves by hand, starting Monday 23 November 2026, 09:00 New York."""
    clock = FakeNow(MONDAY_9)
    harness.ctx.now = clock
    yield clock


def _loopback(fake: Fake, spec: str) -> Iterator[Fake]:
    """Run a loopback platform fake for one test; any call ``spec`` does not allow
    fails the test."""
    fake.start()
    yield fake
    fake.stop()
    assert not fake.violations, f"calls {spec} does not allow: {fake.violations}"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The loopback Slack Web API; any call its spec does not allow fails the test."""
    yield from _loopback(FakeSlack(), "Slack's API spec")


@pytest.fixture
def fake_whatsapp() -> Iterator[FakeWhatsApp]:
    """The loopback WhatsApp Graph API; any call its spec does not allow fails the test."""
    yield from _loopback(FakeWhatsApp(), "the WhatsApp spec")


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """The loopback Telegram Bot API; any call its spec does not allow fails the test."""
    yield from _loopback(FakeTelegram(), "the Bot API spec")


@pytest.fixture
def slack(harness: Harness, fake_slack: FakeSlack) -> SlackDriver:
    """Slack's side of a test, with Ana (Slack user UANA) as an agent; a module that needs
    other agents defines its own."""
    return SlackDriver(harness, fake_slack, ("Ana", "UANA"))


@pytest.fixture
def wa(harness: Harness, fake_whatsapp: FakeWhatsApp) -> WhatsAppDriver:
    """WhatsApp's side of a test: the client's messages as signed webhook calls."""
    return WhatsAppDriver(harness, fake_whatsapp)


@pytest.fixture
def telegram(harness: Harness, fake_telegram: FakeTelegram) -> TelegramDriver:
    """Telegram's side of a test: the client's updates as the webhook receives them."""
    return TelegramDriver(harness, fake_telegram)


@pytest.fixture
def slack_config(
    tmp_path: Path, database_url: str, broker_url: str, fake_slack: FakeSlack
) -> Callable[..., Settings]:
    """Settings with the Slack channel on against ``fake_slack``, and ``more`` of them."""
    return lambda **more: slack_settings(tmp_path, database_url, broker_url, fake_slack, **more)
