"""Drive a whole Switchboard from a test: fake channel in, fake channel out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hypothesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.fake import FakeChannel, read_outbox
from channels.web.app import create_app
from config.runtime import System
from config.settings import Settings, load_settings
from core.models import Agent, ApiToken, InboundRecord, InboundStatus, OutboxDelivery
from core.principals import Principal, agent_principal, system
from core.tickets import context, lookup, opening, views, workflow
from core.tokens import api_token, hash_token


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(tmp_path: Path, database_url: str, broker_url: str, **overrides: Any) -> Settings:
    """Settings for one test: its own data dir, database and broker queue, fast retries."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "broker_url": broker_url,
        "broker_queue": f"sbtest-{uuid.uuid4().hex[:8]}",
        "secret_key": "test-secret",
        "delivery_backoff_seconds": 0.05,
        "delivery_max_attempts": 3,
        "worker_threads": 2,
        # Tests send a client's next message within a second of the last: a machine's
        # speed. tests/test_autoresponder.py turns the check on where it is the subject.
        "machine_answer_seconds": 0,
    }
    return load_settings(**{**values, **overrides})


def whole_system_examples(count: int) -> hypothesis.settings:
    """Hypothesis settings for a property that runs the whole system per example:
    ``count`` examples, no deadline, the function's fixtures shared by its examples."""
    return hypothesis.settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def policy_file(tmp_path: Path, text: str) -> Path:
    """``text`` written to ``tmp_path/policy.toml`` (for ``config_file=``)."""
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def pending_records(session: Session) -> int:
    """How many stored inbound records are not decided yet."""
    return int(
        session.execute(
            select(func.count())
            .select_from(InboundRecord)
            .where(InboundRecord.status == InboundStatus.PENDING)
        ).scalar_one()
    )


def deliveries_in_flight(session: Session) -> int:
    """How many deliveries are still to be sent or being sent."""
    return int(
        session.execute(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.status.in_(["pending", "sending"]))
        ).scalar_one()
    )


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not met within {timeout}s")


BIN = Path(sys.executable).parent / "switchboard"
BANNER = "Switchboard is up"


def at_once(*runs: Callable[[], object]) -> None:
    """Run each function in a thread of its own, all released together; raise the
    first error any of them raised."""
    barrier = threading.Barrier(len(runs))
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


class RecordingDispatcher:
    """A dispatcher that only remembers what it was asked to send: (job, args) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[int | str, ...]]] = []

    def send(self, job: str, *args: int | str, delay_ms: int | None = None) -> None:
        self.sent.append((job, args))


def process_env(values: dict[str, str]) -> dict[str, str]:
    """The environment of a Switchboard process a test starts: this one's without any
    SWITCHBOARD_ variable (no setting of the machine's leaks in), then ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(values)
    return env


def start_role(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """``switchboard ARGS`` as its own process, everything it prints going to ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [str(BIN), *args], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )


def wait_started(process: subprocess.Popen[str], log: Path, hang: float = 600.0) -> None:
    """Until ``process`` prints its banner (its web port listens from then on), failing
    at once with what it printed if it exits first. Starting takes as long as the
    machine's load makes it; ``hang`` only stops a process that neither starts nor ends."""
    deadline = time.monotonic() + hang
    while BANNER not in log.read_text(errors="replace"):
        assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, (
            f"neither up nor ended after {hang}s:\n{log.read_text()}"
        )
        time.sleep(0.05)


def stop_process(server: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


class Harness:
    def __init__(self, system: System) -> None:
        self.system = system
        self.ctx = system.ctx
        self.settings = system.settings
        self.fake = FakeChannel(self.ctx)
        self._client: TestClient | None = None

    # Agents and API ------------------------------------------------------------------

    def agent(
        self, name: str = "Ana", roles: tuple[str, ...] = ("agent",), email: str | None = None
    ) -> tuple[Principal, str]:
        token = api_token()
        with self.ctx.db.transaction() as session:
            agent = Agent(
                name=name,
                email=email or f"{name.lower().replace(' ', '.')}@support.example",
                roles=sorted(set(roles)),
            )
            session.add(agent)
            session.flush()
            session.add(
                ApiToken(
                    agent_id=agent.id,
                    name="test",
                    token_hash=hash_token(token),
                    hint=token[:8],
                    created_by="test",
                )
            )
            return agent_principal(agent), token

    # Tickets -------------------------------------------------------------------------

    def open_ticket(
        self,
        subject: str = "Badge reader",
        text: str = "Door badge reader is offline.",
        requester: tuple[str, str, str] = ("fake", "client-1", "Lia"),
        who: Principal | None = None,
        **more: Any,
    ) -> int:
        """Open a ticket through the core action, as the system unless ``who``; its id."""
        with self.ctx.db.transaction() as session:
            ticket = opening.open_ticket(
                self.ctx,
                session,
                who or system(),
                subject=subject,
                text=text,
                requester=requester,
                **more,
            )
            return ticket.id

    def act(self, ticket: int | str, fn: Callable[..., Any], who: Principal, **kwargs: Any) -> Any:
        """``fn(ctx, session, who, ticket, **kwargs)``, a core action on the locked
        ticket (by id or number), in a transaction of its own."""
        with self.ctx.db.transaction() as session:
            found = lookup.get_ticket(session, ticket, lock=True)
            return fn(self.ctx, session, who, found, **kwargs)

    def resolve(
        self,
        ticket: int | str,
        agent: Principal,
        steps: str,
        *,
        code: str = "fixed",
        acknowledge: bool = True,
        close: bool = False,
    ) -> None:
        """Resolve a ticket (by id or number) through the core actions as ``agent``:
        acknowledged first (unless not ``acknowledge``), and closed after with ``close``."""
        with self.ctx.db.transaction() as session:
            found = lookup.get_ticket(session, ticket, lock=True)
            if acknowledge:
                workflow.acknowledge(self.ctx, session, agent, found)
            workflow.resolve(self.ctx, session, agent, found, code=code, steps=steps)
            if close:
                workflow.close(self.ctx, session, agent, found)

    @property
    def client(self) -> TestClient:
        if self._client is None:
            self._client = TestClient(create_app(self.ctx), raise_server_exceptions=False)
        return self._client

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        return self.client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def open_by_api(
        self, token: str, channel: str, address: str, subject: str = "Hi", text: str = "Hello"
    ) -> Any:
        """POST /api/tickets as the agent whose token this is; the response."""
        return self.api(
            "POST",
            "/api/tickets",
            token,
            json={
                "subject": subject,
                "text": text,
                "requester": {"channel": channel, "address": address},
            },
        )

    # Waiting for the workers ---------------------------------------------------------

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until no inbound record is undecided and no delivery is in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ctx.db.reading() as session:
                # Inbound first: a record decided between the two queries has its
                # outbox rows committed with it, so the second query sees them.
                busy = pending_records(session)
                busy += deliveries_in_flight(session)
            if not busy:
                return
            time.sleep(0.02)
        raise AssertionError(f"work still pending after {timeout}s")

    # Reading -------------------------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        """What the fake channel delivered, oldest first."""
        return read_outbox(self.settings.fake_outbox_path)

    def records(self, channel: str | None = None) -> list[InboundRecord]:
        """The stored inbound records (of ``channel``), oldest first."""
        query = select(InboundRecord).order_by(InboundRecord.id)
        if channel is not None:
            query = query.where(InboundRecord.channel == channel)
        with self.ctx.db.reading() as session:
            return list(session.execute(query).scalars())

    def deliveries(self, **where: Any) -> list[OutboxDelivery]:
        """The outbox rows whose columns have these values, oldest first."""
        query = select(OutboxDelivery).order_by(OutboxDelivery.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxDelivery, name) == value)
        with self.ctx.db.reading() as session:
            return list(session.execute(query).scalars())

    def ticket(self, number: str | int) -> dict[str, Any]:
        with self.ctx.db.reading() as session:
            return context.assemble(self.ctx, session, number)

    def only_ticket_number(self) -> str:
        data = self.tickets()
        assert data["total"] == 1, data
        return str(data["tickets"][0]["number"])

    def tickets(self, **filters: Any) -> dict[str, Any]:
        with self.ctx.db.reading() as session:
            return views.list_tickets(self.ctx, session, include_closed=True, **filters)
