"""Search: a ticket is found by its number, subject, client and the words of any of
its messages, through the API and the command line, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from config.cli import main
from core.tickets import search
from tests.harness import Harness


@pytest.fixture(autouse=True, params=["selective", "broad"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test both ways a search runs: every match taken from the index at once
    (a selective query), and the tickets walked newest first (a broad one)."""
    if request.param == "broad":
        monkeypatch.setattr(search, "BROAD", 0)
    return str(request.param)


def _found(harness: Harness, token: str, q: str, **more: Any) -> list[str]:
    response = harness.api("GET", "/api/tickets", token, params={"q": q, **more})
    assert response.status_code == 200, response.text
    return [t["number"] for t in response.json()["tickets"]]


def test_a_word_only_in_a_message_body_finds_its_ticket(harness: Harness) -> None:
    # Given a ticket whose subject and client say nothing of E42, and one about another fault
    _, token = harness.agent("Ana")
    press = harness.open_ticket(
        subject="Press 3 is down", text="It stopped at 08:10 with error E42 on the panel."
    )
    harness.open_ticket(subject="Printer jam", text="Tray 2 jams.", requester=("fake", "c2", "Bo"))
    # When an agent searches for E42 (any case)
    # Then only the press ticket is found
    assert _found(harness, token, "E42") == [f"T-{press:06d}"]
    assert _found(harness, token, "e42") == [f"T-{press:06d}"]
    assert _found(harness, token, "E43") == []


def test_a_reply_added_later_is_searchable_at_once(harness: Harness) -> None:
    # Given a ticket, and an agent replying with a part number through the API
    _, token = harness.agent("Ana")
    ticket = harness.open_ticket(subject="Conveyor noise", text="Loud squeak.")
    number = f"T-{ticket:06d}"
    assert _found(harness, token, "BRG-6204") == []
    reply = harness.api(
        "POST", f"/api/tickets/{number}/reply", token, json={"text": "Ordered bearing BRG-6204."}
    )
    assert reply.status_code == 200, reply.text
    # And an internal note
    harness.api(
        "POST", f"/api/tickets/{number}/note", token, json={"text": "Supplier quoted 3 days."}
    )
    # Then the ticket is found by the words of both, the moment they are stored
    assert _found(harness, token, "BRG-6204") == [number]
    assert _found(harness, token, "bearing 6204") == [number]
    assert _found(harness, token, "supplier quoted") == [number]
    # And every word must be there: one missing finds nothing
    assert _found(harness, token, "bearing gearbox") == []


def test_number_subject_client_name_and_address_each_find_the_ticket(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    ticket = harness.open_ticket(
        subject="Hydraulic pressure low",
        text="Gauge reads 80 bar.",
        requester=("fake", "plant-north-desk", "Marta Kowalska"),
    )
    other = harness.open_ticket(
        subject="Badge reader", text="Offline.", requester=("fake", "c9", "Jo")
    )
    number = f"T-{ticket:06d}"
    for q in (number, str(ticket), "hydraulic", "PRESS", "kowalska", "marta", "plant-north"):
        assert _found(harness, token, q) == [number], q
    # A word is matched as a prefix; status filters still apply
    assert _found(harness, token, "hydr", status="new") == [number]
    assert _found(harness, token, "hydr", status="closed") == []
    assert f"T-{other:06d}" not in _found(harness, token, "hydraulic")


def test_punctuation_alone_finds_nothing_and_is_not_an_error(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    harness.open_ticket()
    for q in ("'", '"*', "&|!", "()", "-"):
        assert _found(harness, token, q) == [], q


def test_the_command_line_searches_message_text_too(harness: Harness, cli: CliRunner) -> None:
    ticket = harness.open_ticket(subject="Oven", text="Fault code E42 after preheat.")
    harness.open_ticket(subject="Oven door", text="Hinge loose.", requester=("fake", "c3", ""))
    result = cli.invoke(main, ["tickets", "list", "-q", "E42", "--json"])
    assert result.exit_code == 0, result.output
    assert [t["number"] for t in json.loads(result.output)["tickets"]] == [f"T-{ticket:06d}"]


def test_a_search_pages_newest_first_with_the_total(harness: Harness, way: str) -> None:
    _, token = harness.agent("Ana")
    ids = [harness.open_ticket(subject=f"Valve {n}", text="Seal worn.") for n in range(5)]
    harness.open_ticket(subject="Other", text="Nothing alike.")
    response = harness.api(
        "GET", "/api/tickets", token, params={"q": "seal", "limit": 2, "offset": 1}
    )
    data = response.json()
    assert [t["number"] for t in data["tickets"]] == [f"T-{i:06d}" for i in ids[::-1][1:3]]
    past = harness.api("GET", "/api/tickets", token, params={"q": "seal", "offset": 10}).json()
    assert past["tickets"] == []
    # The total is exact, but for a broad query on PostgreSQL: the planner's estimate,
    # never less than what the pages have shown
    estimated = way == "broad" and harness.ctx.db.engine.dialect.name == "postgresql"
    assert (data["total_exact"], past["total_exact"]) == (not estimated, not estimated)
    if estimated:
        assert data["total"] >= 3 and past["total"] >= 1
    else:
        assert data["total"] == past["total"] == 5
