"""The JSON API: opening a ticket, acting on it, and errors a client can act on."""

from __future__ import annotations

from collections.abc import Iterator

from tests.harness import Harness

OPEN = {
    "subject": "Packing line 2 is down",
    "text": "The conveyor stopped at 08:10 and shows error E42.",
    "requester": {"channel": "fake", "address": "plant-7", "name": "Dana"},
}


def test_a_ticket_opened_through_the_api_is_acknowledged_to_the_client_on_their_channel(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    # When an agent opens a ticket on a client's behalf
    response = harness.api("POST", "/api/tickets", token, json=OPEN)
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["number"] == "T-000001"
    assert ticket["status"] == "new"
    assert ticket["priority"] == "P1", "'down' is a critical word in the default routing rules"
    harness.settle()
    # Then the acknowledgement reached the fake channel, once, with number and tracking link
    sent = harness.sent()
    assert [s["kind"] for s in sent] == ["ack"]
    assert sent[0]["recipient"] == "plant-7"
    assert "T-000001" in sent[0]["text"] and "/t/" in sent[0]["text"]
    assert "15 minutes" in sent[0]["text"], "the P1 response target is promised"
    shown = harness.api("GET", "/api/tickets/T-000001", token).json()
    assert shown["deliveries"][0]["status"] == "sent"
    assert [e["action"] for e in shown["audit"]] == ["open", "delivered"]


def test_every_api_call_needs_a_valid_token(harness: Harness) -> None:
    assert harness.client.get("/api/tickets").status_code == 401
    response = harness.api("GET", "/api/tickets", "sbt_not-a-real-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_refused_transition_is_a_409_naming_the_rule_not_a_500(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    harness.api("POST", "/api/tickets", token, json=OPEN)
    response = harness.api("POST", "/api/tickets/T-000001/resume", token)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "lifecycle.state"
    assert "is new" in response.json()["error"]["message"]


def test_an_agent_who_is_not_a_lead_sending_an_override_reason_is_refused_403(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    harness.api("POST", "/api/tickets", token, json=OPEN)
    response = harness.api(
        "POST",
        "/api/tickets/T-000001/close",
        token,
        json={"code": "fixed", "steps": "x", "override_reason": "the client asked to close it"},
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "override.role"
    assert "only a lead may override" in response.json()["error"]["message"]
    assert harness.ticket(1)["status"] == "new"


def test_a_body_over_the_limit_is_refused_413_whether_declared_or_streamed(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    huge = {**OPEN, "text": "x" * (10 * 1024 * 1024)}
    response = harness.api("POST", "/api/tickets", token, json=huge)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request.too_large"
    assert str(harness.ctx.max_request_bytes) in response.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: it only grows past the limit
        yield b'{"subject": "Big", "text": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'", "requester": {"channel": "fake", "address": "c-1"}}'

    streamed = harness.client.post(
        "/api/tickets",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text
    assert harness.tickets()["total"] == 0, "nothing of a refused body is stored"
    assert harness.api("POST", "/api/tickets", token, json=OPEN).status_code == 201


def test_a_missing_required_field_is_a_422_with_the_field_named(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    harness.api("POST", "/api/tickets", token, json=OPEN)
    harness.api("POST", "/api/tickets/T-000001/acknowledge", token)
    response = harness.api(
        "POST", "/api/tickets/T-000001/hold", token, json={"reason": "pending_parts"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "field.parts_ref"
    response = harness.api("POST", "/api/tickets/T-000001/resolve", token, json={"code": "fixed"})
    assert response.status_code == 422
    assert "steps" in response.json()["error"]["message"]


def test_an_unknown_ticket_is_a_404(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    response = harness.api("GET", "/api/tickets/T-999999", token)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_listing_filters_by_status_priority_and_text(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    harness.api("POST", "/api/tickets", token, json=OPEN)
    harness.api(
        "POST",
        "/api/tickets",
        token,
        json={**OPEN, "subject": "Invoice copy please", "text": "Need last month's invoice."},
    )
    assert harness.api("GET", "/api/tickets?priority=P1", token).json()["total"] == 1
    assert (
        harness.api("GET", "/api/tickets?q=invoice", token).json()["tickets"][0]["subject"]
        == "Invoice copy please"
    )
    assert harness.api("GET", "/api/tickets?status=new", token).json()["total"] == 2


def test_a_full_working_session_through_the_api(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    # A whole life in a minute earns more automatic messages than the hourly cap allows
    harness.ctx.auto_reply_limit_per_hour = 10
    harness.api("POST", "/api/tickets", token, json=OPEN)
    steps = [
        ("acknowledge", None, "acknowledged"),
        ("assign", {"agent": "me"}, "assigned"),
        ("start", None, "in_progress"),
        ("note", {"text": "Probably the E42 sensor."}, "in_progress"),
        ("reply", {"text": "A technician is on the way."}, "in_progress"),
        ("hold", {"reason": "pending_parts", "parts_ref": "PO-5531"}, "on_hold"),
        ("resume", None, "in_progress"),
        ("links", {"asset": "CONV-2", "work_order": "WO-88"}, "in_progress"),
        (
            "resolve",
            {"code": "replaced", "steps": "Replaced the E42 sensor and tested the line."},
            "resolved",
        ),
        ("close", None, "closed"),
        ("reopen", {"reason": "it stopped again"}, "assigned"),
    ]
    for action, body, expected in steps:
        response = harness.api("POST", f"/api/tickets/T-000001/{action}", token, json=body)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == expected, action
    harness.settle()
    ticket = harness.ticket("T-000001")
    assert ticket["links"]["asset"] == "CONV-2"
    assert ticket["resolutions"][0]["code"] == "replaced"
    # (worker threads deliver side by side: the order queued is the outbox's)
    kinds = [d["kind"] for d in ticket["deliveries"]]
    assert sorted(s["kind"] for s in harness.sent()) == sorted(kinds)
    assert kinds == [
        "ack",
        "assigned",
        "reply",
        "on_hold",
        "resolved",
        "satisfaction",
        "reopened",
    ], "the note never left; the reply and the notices of each moment did"
    assert all("E42 sensor" not in s["text"] for s in harness.sent() if s["kind"] != "resolved")


HUGE = "99999999999999999999"


def test_huge_and_malformed_numbers_are_answered_4xx_never_500(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    assert harness.api("POST", "/api/tickets", token, json=OPEN).status_code == 201
    tracking = harness.ticket(1)["tracking_link"].rsplit("/t/", 1)[1]
    answers = {
        "ticket": harness.api("GET", f"/api/tickets/{HUGE}", token),
        "ticket by number": harness.api("GET", f"/api/tickets/T-{HUGE}", token),
        "action": harness.api("POST", f"/api/tickets/{HUGE}/acknowledge", token, json={}),
        "offset": harness.api("GET", f"/api/tickets?offset={HUGE}", token),
        "parked in": harness.api("POST", f"/api/parked/in-{HUGE}/retry", token),
        "parked out": harness.api("POST", f"/api/parked/out-{HUGE}/retry", token),
        "assignee": harness.api(
            "POST", "/api/tickets/T-000001/assign", token, json={"agent": HUGE}
        ),
        "merge into": harness.api(
            "POST", "/api/tickets/T-000001/merge", token, json={"into": f"T-{HUGE}"}
        ),
        "file": harness.client.get(f"/t/{tracking}/files/{HUGE}/x"),
        "file of no token": harness.client.get(f"/t/ANY/files/{HUGE}/x"),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert statuses["ticket"] == 404 and statuses["file"] == 404
    assert statuses["assignee"] == 422 and statuses["offset"] == 422
    # and the service still answers afterwards
    assert harness.api("GET", "/api/tickets/T-000001", token).status_code == 200


def test_an_address_that_is_not_one_is_refused_where_it_enters(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    for bad in ("not an email bcc: x@y", "dana@client.example\r\nBcc: x@y", "dana"):
        response = harness.open_by_api(token, "email", bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "field.requester.address"
    assert harness.tickets()["total"] == 0
    # a non-ASCII address is one, and its acknowledgement is delivered
    assert harness.open_by_api(token, "email", "josé@cliënt.example").status_code == 201
    harness.settle()
    assert harness.ticket(1)["deliveries"][0]["status"] == "sent"
