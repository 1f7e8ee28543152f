"""Idempotency-Key on the JSON API: a write sent twice is done once, across processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from channels.web.app import create_app
from config.runtime import build_context
from core.context import Context
from core.models import IdempotentRequest
from core.tickets import opening
from tests.harness import Harness, wait_until

OPEN = {
    "subject": "Label printer jams",
    "text": "Printer 4 jams on every second label.",
    "requester": {"channel": "fake", "address": "plant-9", "name": "Ravi"},
}


def _post(client: TestClient, token: str, path: str, key: str, body: Any) -> Any:
    return client.post(
        path, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    )


@pytest.fixture
def other_process(harness: Harness) -> Iterator[tuple[Context, TestClient]]:
    """A second web process on the same database: its own context, engine and app."""
    ctx = build_context(harness.settings)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield ctx, client
    ctx.db.dispose()


def test_the_same_ticket_posted_twice_with_a_key_is_opened_once_and_answered_alike(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    first = _post(harness.client, token, "/api/tickets", "open-printer-1", OPEN)
    assert first.status_code == 201, first.text
    # When the client, unsure it got through, sends it again with the same key
    again = _post(
        harness.client, token, "/api/tickets", "open-printer-1", dict(reversed(OPEN.items()))
    )
    # Then it gets the first answer, byte for byte, and there is still one ticket
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert harness.tickets()["total"] == 1
    # A new key is a new request
    other = _post(harness.client, token, "/api/tickets", "open-printer-2", OPEN)
    assert other.json()["number"] == "T-000002"


def test_a_reply_sent_twice_with_one_key_reaches_the_client_once(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    number = _post(harness.client, token, "/api/tickets", "k-open", OPEN).json()["number"]
    reply = {"text": "A technician is on the way."}
    path = f"/api/tickets/{number}/reply"
    first = _post(harness.client, token, path, "k-reply", reply)
    assert first.status_code == 200, first.text
    second = _post(harness.client, token, path, "k-reply", reply)
    assert second.content == first.content
    harness.settle()
    replies = [s for s in harness.sent() if s["kind"] == "reply"]
    assert [r["text"].count("A technician is on the way.") for r in replies] == [1]
    thread = harness.ticket(number)["thread"]
    assert sum("technician" in (m.get("text") or "") for m in thread) == 1


def test_a_key_used_again_for_another_body_is_refused_naming_the_key(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    _post(harness.client, token, "/api/tickets", "k-1", OPEN)
    response = _post(
        harness.client, token, "/api/tickets", "k-1", {**OPEN, "subject": "Another printer"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency.key_reused"
    assert "k-1" in error["message"] and "new key" in error["message"]
    assert harness.tickets()["total"] == 1


def test_one_key_is_the_callers_own_another_token_may_use_it_too(harness: Harness) -> None:
    _, ana = harness.agent("Ana")
    _, ben = harness.agent("Ben")
    assert _post(harness.client, ana, "/api/tickets", "same", OPEN).status_code == 201
    assert _post(harness.client, ben, "/api/tickets", "same", OPEN).status_code == 201
    assert harness.tickets()["total"] == 2


def test_a_key_invalid_or_a_failed_login_is_not_kept(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    bad = _post(harness.client, token, "/api/tickets", "x" * 256, OPEN)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "idempotency.key_invalid"
    assert _post(harness.client, "sbt_wrong", "/api/tickets", "k", OPEN).status_code == 401
    assert _post(harness.client, "sbt_wrong", "/api/tickets", "k", OPEN).status_code == 401
    assert harness.tickets()["total"] == 0


def test_while_the_first_request_runs_the_same_key_is_told_to_wait_then_gets_its_answer(
    harness: Harness,
    other_process: tuple[Context, TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first request held inside the action, in this process
    _, token = harness.agent("Ana")
    entered, go_on = threading.Event(), threading.Event()
    real = opening.open_ticket

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert go_on.wait(15), "the test never let the first request go on"
        return real(*args, **kwargs)

    monkeypatch.setattr(opening, "open_ticket", held)
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(_post(harness.client, token, "/api/tickets", "k-race", OPEN))
    )
    first.start()
    assert entered.wait(15)
    # When another process gets the same request under the same key meanwhile
    _, client = other_process
    waiting = _post(client, token, "/api/tickets", "k-race", OPEN)
    # Then it is told the first is still running, and when to ask again
    assert waiting.status_code == 409
    assert waiting.json()["error"]["code"] == "idempotency.in_progress"
    assert waiting.headers["Retry-After"] == "1"
    go_on.set()
    first.join(15)
    assert answers[0].status_code == 201
    # And, asked again, it gets the first answer; the ticket was opened once
    later = _post(client, token, "/api/tickets", "k-race", OPEN)
    assert later.status_code == 201 and later.content == answers[0].content
    assert harness.tickets()["total"] == 1


def test_requests_racing_with_one_key_in_two_processes_open_one_ticket(
    harness: Harness, other_process: tuple[Context, TestClient]
) -> None:
    _, token = harness.agent("Ana")
    clients = [harness.client, other_process[1]] * 3
    start = threading.Barrier(len(clients))
    answers: list[Any] = [None] * len(clients)

    def send(i: int) -> None:
        start.wait(10)
        answers[i] = _post(clients[i], token, "/api/tickets", "k-burst", OPEN)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    done = [a for a in answers if a.status_code == 201]
    assert done and all(a.content == done[0].content for a in done)
    assert all(
        a.json()["error"]["code"] == "idempotency.in_progress"
        for a in answers
        if a.status_code == 409
    )
    assert harness.tickets()["total"] == 1
    harness.system.recover()  # the other process has no workers: its rows wait for a sweep
    harness.settle()
    assert [s["kind"] for s in harness.sent()] == ["ack"], "the client is acknowledged once"


def test_the_answer_outlives_a_restart_and_expires_after_the_setting(
    harness: Harness, other_process: tuple[Context, TestClient]
) -> None:
    _, token = harness.agent("Ana")
    first = _post(harness.client, token, "/api/tickets", "k-day", OPEN)
    # A process started later (a restart) answers the stored answer
    ctx, client = other_process
    assert _post(client, token, "/api/tickets", "k-day", OPEN).content == first.content
    # Once the key is older than SWITCHBOARD_IDEMPOTENCY_KEY_HOURS (24 h by default) the
    # clock removes it, and the key is a new request again
    assert harness.settings.idempotency_key_hours == 24
    later = harness.ctx.now() + timedelta(hours=24, seconds=1)
    harness.ctx.now = ctx.now = lambda: later
    harness.system.make_clock().tick()
    with harness.ctx.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0
    again = _post(client, token, "/api/tickets", "k-day", OPEN)
    assert again.status_code == 201 and again.json()["number"] == "T-000002"
    wait_until(lambda: harness.tickets()["total"] == 2, what="the second ticket")
