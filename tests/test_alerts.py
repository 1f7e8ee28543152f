"""Alerts from monitoring, end to end: Alertmanager (or the generic format) posts to the
web app, the notification is stored, a worker opens, updates and resolves tickets.

Every test runs on SQLite and on PostgreSQL, through the real edge, front door,
Dramatiq worker and core actions. Alertmanager is ``tests/fakealertmanager.py``,
which builds its notifications from the copied upstream structs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from channels.alerts.parse import fingerprint
from config.settings import Settings
from core import intake
from core.models import InboundRecord
from core.principals import system
from core.tickets import lookup, workflow
from tests.fakealertmanager import TOKEN, FakeAlertmanager, spec_keys
from tests.harness import Harness, at_once, make_settings

SECRET = "alerts-hmac-secret"
PRESS = {
    "alertname": "HighTemperature",
    "asset": "PRESS-3",
    "site": "PLANT-N",
    "severity": "warning",
}
OVEN = {"alertname": "HighTemperature", "asset": "OVEN-1", "site": "PLANT-N", "severity": "warning"}
HOT = {"summary": "Press 3 is running hot", "description": "Hydraulic oil at 78 °C (limit 70 °C)."}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        broker_url,
        alerts_token=TOKEN,
        alerts_hmac_secret=SECRET,
        config_file=_policy(tmp_path),
    )


def _policy(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        """
[[alerts.rules]]
name = "critical"
labels = { severity = "critical" }
priority = "P1"
queue = "field-service"
category = "hardware"

[[alerts.rules]]
name = "disk space clears itself"
labels = { alertname = ["DiskFilling", "DiskFull"] }
resolve = true
asset_label = "host"
"""
        + extra
    )
    return path


@pytest.fixture
def web(harness: Harness) -> TestClient:
    return TestClient(harness.system.web_app(), raise_server_exceptions=False)


@pytest.fixture
def am(web: TestClient) -> FakeAlertmanager:
    return FakeAlertmanager(web)


def _records(harness: Harness) -> int:
    with harness.ctx.db.reading() as s:
        return int(s.execute(select(func.count()).select_from(InboundRecord)).scalar_one())


def _tickets(harness: Harness) -> list[dict[str, Any]]:
    """Every ticket, oldest first, with its whole context."""
    numbers = [t["number"] for t in harness.tickets(limit=500)["tickets"]]
    return [harness.ticket(n) for n in reversed(numbers)]


def _said(ticket: dict[str, Any]) -> list[str]:
    return [f"{m['kind']}: {m['text']}" for m in ticket["thread"]]


# Firing, repeats, a group growing ------------------------------------------------------


def test_a_firing_alert_opens_one_preventive_maintenance_ticket_about_its_machine(
    harness: Harness, am: FakeAlertmanager
) -> None:
    am.fire(PRESS, HOT)
    response = am.notify()
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == 1
    harness.settle()
    [ticket] = _tickets(harness)
    assert ticket["subject"] == "HighTemperature: Press 3 is running hot"
    assert (ticket["priority"], ticket["category"], ticket["status"]) == (
        "P3",
        "preventive-maintenance",
        "new",
    )
    assert ticket["links"]["asset"] == "PRESS-3" and ticket["links"]["site"] == "PLANT-N"
    opening = ticket["thread"][0]["text"]
    assert opening.startswith("Hydraulic oil at 78 °C (limit 70 °C).")
    assert "severity=warning" in opening and "summary=Press 3 is running hot" in opening
    assert "http://prometheus.plant.example:9090/graph?g0.expr=up" in opening
    assert ticket["client"]["channel"] == "alerts"
    assert ticket["client"]["address"] == "alertmanager/plant"
    # The alert is known with everything it carried, and the machine shows it firing
    [alert] = ticket["alerts"]
    assert alert["status"] == "firing" and alert["labels"] == PRESS
    assert alert["fingerprint"] == fingerprint(PRESS)
    assert [a["name"] for a in ticket["asset"]["alerts"]] == ["HighTemperature"]
    # SLA clocks run as on any ticket; nothing is sent to the monitoring system
    assert ticket["sla"]["response_due_at"] is not None
    assert ticket["deliveries"] == [] and harness.sent() == []
    assert ticket["reply_via"] == {
        "channel": None,
        "address": None,
        "why": "nothing is sent on alerts",
    }
    assert "ack" not in {e["action"] for e in ticket["audit"]}


def test_the_same_notification_again_changes_nothing(
    harness: Harness, am: FakeAlertmanager
) -> None:
    am.fire(PRESS, HOT)
    am.notify()
    harness.settle()
    before = _tickets(harness)[0]
    # Alertmanager re-sends the group at the repeat interval (the end time moved on)
    am.later(240)
    assert am.notify("repeat_interval").status_code == 202
    harness.settle()
    [after] = _tickets(harness)
    assert len(after["thread"]) == 1
    assert [e["action"] for e in after["audit"]] == [e["action"] for e in before["audit"]]


def _press_then(
    harness: Harness, am: FakeAlertmanager, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    """The press alert fires and is decided; five minutes later the group is sent again
    with this alert fired too (new or changed)."""
    am.fire(PRESS, HOT)
    am.notify()
    harness.settle()
    am.later(5)
    am.fire(labels, annotations)
    am.notify("new_alerts_added")
    harness.settle()


def test_a_new_alert_joining_the_group_opens_its_own_ticket_and_leaves_the_first_alone(
    harness: Harness, am: FakeAlertmanager
) -> None:
    _press_then(harness, am, OVEN, {"summary": "Oven 1 is running hot"})
    press, oven = _tickets(harness)
    assert oven["links"]["asset"] == "OVEN-1" and oven["subject"].endswith("Oven 1 is running hot")
    assert len(press["thread"]) == 1, "the first alert did not change"


def test_a_changed_alert_is_appended_to_its_open_ticket_never_a_second_one(
    harness: Harness, am: FakeAlertmanager
) -> None:
    _press_then(harness, am, PRESS, {**HOT, "description": "Hydraulic oil at 83 °C (limit 70 °C)."})
    [ticket] = _tickets(harness)
    assert len(ticket["thread"]) == 2
    update = ticket["thread"][1]
    assert (update["kind"], update["channel"]) == ("public", "alerts")
    assert (
        "description: Hydraulic oil at 78 °C (limit 70 °C). -> Hydraulic oil at 83 °C"
        in (update["text"])
    )


# Resolution ------------------------------------------------------------------------------


def test_a_partly_resolved_group_notes_the_resolved_alert_and_keeps_the_other(
    harness: Harness, am: FakeAlertmanager
) -> None:
    am.fire(PRESS, HOT)
    am.fire(OVEN, {"summary": "Oven 1 is running hot"})
    am.notify()
    harness.settle()
    am.later(65)
    am.resolve(PRESS)
    assert am.notify("new_resolved_alerts").status_code == 202
    harness.settle()
    press, oven = _tickets(harness)
    note = press["thread"][-1]
    assert note["kind"] == "internal"
    assert note["text"].startswith("Alert HighTemperature resolved at 2026-11-23 15:05 UTC")
    assert "after firing for 1 h 5 min" in note["text"]
    assert press["status"] == "new", "by default a person confirms the fix"
    assert press["alerts"][0]["status"] == "resolved" and press["asset"]["alerts"] == []
    assert len(oven["thread"]) == 1 and oven["alerts"][0]["status"] == "firing"
    # The resolved alert is not sent again; the next notification changes nothing
    am.later(5)
    am.notify("repeat_interval")
    harness.settle()
    assert [len(t["thread"]) for t in _tickets(harness)] == [2, 1]


def test_a_fully_resolved_group_resolves_tickets_where_the_policy_says_so(
    harness: Harness, am: FakeAlertmanager
) -> None:
    disk = {"alertname": "DiskFilling", "host": "HMI-7", "mountpoint": "/var"}
    am.fire(disk, {"summary": "/var on HMI-7 fills up"})
    am.fire(PRESS, HOT)
    am.notify()
    harness.settle()
    am.later(30)
    am.resolve(disk)
    am.resolve(PRESS)
    assert am.notify("all_alerts_resolved").status_code == 202
    harness.settle()
    disk_ticket, press_ticket = _tickets(harness)
    # The rule for disk alerts resolves its ticket, with the configured code
    assert disk_ticket["links"]["asset"] == "HMI-7", "the rule reads the machine from 'host'"
    assert disk_ticket["status"] == "resolved"
    [resolution] = disk_ticket["resolutions"]
    assert resolution["code"] == "alert-cleared"
    assert "resolved at 2026-11-23 14:30 UTC" in resolution["steps"]
    assert disk_ticket["asset"]["resolutions"][0]["code"] == "alert-cleared"
    # the other alert's ticket only gets the note
    assert press_ticket["status"] == "new" and press_ticket["thread"][-1]["kind"] == "internal"


def test_an_alert_firing_again_reopens_its_resolved_ticket_and_a_closed_one_gets_a_new_ticket(
    harness: Harness, am: FakeAlertmanager
) -> None:
    disk = {"alertname": "DiskFull", "host": "HMI-7"}
    am.fire(disk, {"summary": "/ is full"})
    am.notify()
    am.later(10)
    am.resolve(disk)
    am.notify("all_alerts_resolved")
    harness.settle()
    [first] = _tickets(harness)
    assert first["status"] == "resolved"
    # It fires again: the same ticket, reopened, says so
    am.later(10)
    am.fire(disk, {"summary": "/ is full"})
    am.notify()
    harness.settle()
    [again] = _tickets(harness)
    assert again["status"] == "acknowledged", "reopened"
    assert "Alert DiskFull fired again at 2026-11-23 14:20 UTC" in again["thread"][-1]["text"]
    # Closed in between: the next episode opens a new ticket, linked to the old one
    am.later(10)
    am.resolve(disk)
    am.notify("all_alerts_resolved")
    harness.settle()
    with harness.ctx.db.transaction() as s:
        workflow.close(harness.ctx, s, system("test"), lookup.get_ticket(s, first["number"]))
    am.later(10)
    am.fire(disk, {"summary": "/ is full"})
    am.notify()
    harness.settle()
    old, new = _tickets(harness)
    assert old["status"] == "closed"
    assert new["linked_from"] == old["number"] and new["status"] == "new"
    assert new["alerts"][0]["fingerprint"] == fingerprint(disk)


# What Alertmanager sends: truncated groups, fingerprints, retries -----------------------


def test_a_truncated_group_opens_tickets_for_the_alerts_it_carries_and_says_how_many_are_missing(
    harness: Harness, web: TestClient
) -> None:
    am = FakeAlertmanager(web, max_alerts=2)
    for n in range(1, 4):
        am.fire({"alertname": "SpindleVibration", "asset": f"MILL-{n}"}, {"summary": "vibration"})
    response = am.notify()
    assert response.status_code == 202
    assert am.message()["truncatedAlerts"] == 1
    harness.settle()
    tickets = _tickets(harness)
    assert [t["links"]["asset"] for t in tickets] == ["MILL-1", "MILL-2"]
    assert "1 more alert of this group was left out" in tickets[0]["thread"][0]["text"]
    # Once the receiver takes every alert, the one left out gets its ticket; nothing twice
    am.max_alerts = 0
    am.notify("repeat_interval")
    harness.settle()
    assert [t["links"]["asset"] for t in _tickets(harness)] == ["MILL-1", "MILL-2", "MILL-3"]
    assert [len(t["thread"]) for t in _tickets(harness)] == [1, 1, 1]


def test_fingerprints_are_computed_as_alertmanager_does_when_one_is_missing(
    harness: Harness, web: TestClient
) -> None:
    # The vector of prometheus/common's signature tests (model/signature_test.go)
    assert fingerprint({"name": "garland, briggs", "fear": "love is not enough"}) == format(
        5799056148416392346, "016x"
    )
    am = FakeAlertmanager(web, send_fingerprint=False)
    am.fire(PRESS, HOT)
    am.notify()
    harness.settle()
    am.send_fingerprint = True
    am.fire(PRESS, {**HOT, "description": "Hydraulic oil at 80 °C."})
    am.notify()
    harness.settle()
    [ticket] = _tickets(harness)
    assert len(ticket["thread"]) == 2, "the same alert, with or without its fingerprint"


def test_after_our_5xx_nothing_was_stored_and_alertmanagers_retry_opens_the_ticket_once(
    harness: Harness, am: FakeAlertmanager, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = intake.receive_many
    failures = iter([True])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return real(*args, **kwargs)

    monkeypatch.setattr("core.intake.frontdoor.receive_many", flaky)
    am.fire(PRESS, HOT)
    response = am.notify(attempts=1)
    assert response.status_code == 503
    assert _records(harness) == 0, "5xx only when nothing was stored"
    assert am.notify().status_code == 202
    # A retry whose first answer was lost (stored, but the sender saw a timeout)
    am.notify()
    harness.settle()
    assert am.answers == [503, 202, 202]
    [ticket] = _tickets(harness)
    assert len(ticket["thread"]) == 1


def test_notifications_decided_out_of_order_never_undo_a_newer_one(harness: Harness) -> None:
    # Given a firing and then a resolved notification, stored in that order
    def body(status: str) -> bytes:
        alert = {"status": status, "labels": PRESS, "annotations": HOT}
        alert["startsAt"] = "2026-11-23T14:00:00Z"
        if status == "resolved":
            alert["endsAt"] = "2026-11-23T15:00:00Z"
        return json.dumps({"source": "scada-2", "alerts": [alert]}).encode()

    stored = intake.receive_many(
        harness.ctx,
        [
            intake.Incoming("alerts", f"order-{n}", body(s), {"format": "generic"})
            for n, s in enumerate(["firing", "resolved"])
        ],
        hand_over=False,
    )
    first, second = (r.record_id for r in stored)
    # When the worker decides the resolved one first (a lost job, picked up later)
    intake.process(harness.ctx, second)
    intake.process(harness.ctx, first)
    intake.process(harness.ctx, second)
    # Then the older firing notification opened nothing and reverted nothing
    assert harness.tickets()["total"] == 0
    with harness.ctx.db.reading() as s:
        reasons = [s.get(InboundRecord, r).reason for r in (first, second)]  # type: ignore[union-attr]
    assert "nothing to resolve" in str(reasons[1]) and "older than what is known" in str(reasons[0])


def test_notifications_about_one_new_alert_decided_at_once_wait_for_each_other(
    harness: Harness,
) -> None:
    # Given three notifications about one alert never seen before (a retry, a change, the end)
    def body(status: str, description: str) -> bytes:
        alert: dict[str, Any] = {
            "status": status,
            "labels": OVEN,
            "annotations": {"description": description},
            "startsAt": "2026-11-23T14:00:00Z",
        }
        if status == "resolved":
            alert["endsAt"] = "2026-11-23T14:30:00Z"
        return json.dumps({"source": "scada-2", "alerts": [alert]}).encode()

    items = [("firing", "240 °C"), ("firing", "240 °C"), ("firing", "255 °C"), ("resolved", "")]
    stored = intake.receive_many(
        harness.ctx,
        [
            intake.Incoming("alerts", f"race-{n}", body(*item), {"format": "generic"})
            for n, item in enumerate(items)
        ],
        hand_over=False,
    )
    # When four workers decide them at the same moment
    at_once(*(partial(intake.process, harness.ctx, r.record_id) for r in stored))
    # Then none failed, at most one ticket was opened, and the newest news stands
    with harness.ctx.db.reading() as s:
        records = [s.get(InboundRecord, r.record_id) for r in stored]
        assert [r.status for r in records if r is not None] == ["done"] * 4
        state = s.execute(text("SELECT status FROM alerts")).scalar_one()
    assert state == "resolved"
    assert harness.tickets()["total"] <= 1


# Who may send ------------------------------------------------------------------------------


def _generic(alerts: list[dict[str, Any]], source: str = "scada-2") -> bytes:
    return json.dumps({"source": source, "alerts": alerts}).encode()


def test_unsigned_forged_or_wrongly_tokened_notifications_are_refused_and_not_stored(
    harness: Harness, web: TestClient
) -> None:
    body = _generic([{"status": "firing", "labels": PRESS}])
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    forged = hmac.new(b"guess", body, hashlib.sha256).hexdigest()
    refused = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Switchboard-Signature": f"sha256={forged}"},
        {"X-Switchboard-Signature": signature},  # without its sha256= prefix
    ]
    for headers in refused:
        response = web.post("/alerts/generic", content=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # a valid signature of other bytes is a forgery too
    response = web.post(
        "/alerts/generic",
        content=body.replace(b"PRESS-3", b"PRESS-4"),
        headers={"X-Switchboard-Signature": f"sha256={signature}"},
    )
    assert response.status_code == 401
    assert _records(harness) == 0
    response = web.post(
        "/alerts/generic",
        content=body,
        headers={"X-Switchboard-Signature": f"sha256={signature.upper()}"},
    )
    assert response.status_code == 202, response.text
    harness.settle()
    assert _records(harness) == 1 and harness.tickets()["total"] == 1


def test_what_is_not_a_notification_is_refused_with_400_naming_the_problem(
    harness: Harness, web: TestClient, am: FakeAlertmanager
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    am.fire(PRESS)
    cases = [
        ("/alerts/generic", b"not json", "not JSON"),
        ("/alerts/generic", _generic([]), "at least one alert"),
        ("/alerts/generic", _generic([{"status": "burning", "labels": PRESS}]), "status"),
        ("/alerts/generic", _generic([{"status": "firing", "labels": {}}]), "labels"),
        ("/alerts/generic", json.dumps({"alerts": [{"status": "firing"}]}).encode(), "source"),
        ("/alerts/alertmanager", json.dumps({**am.message(), "version": "3"}).encode(), "version"),
    ]
    for path, body, problem in cases:
        response = web.post(path, content=body, headers=auth)
        assert response.status_code == 400, (body, response.text)
        assert problem in response.json()["error"]["message"]
    too_big = b"x" * (harness.settings.alerts_max_bytes + 1)
    assert web.post("/alerts/generic", content=too_big, headers=auth).status_code == 413
    # Its own limit, not the API's: a notice larger than an API request is still read.
    over_api = b" " * (harness.settings.max_request_bytes + 1) + b"not json"
    response = web.post("/alerts/generic", content=over_api, headers=auth)
    assert response.status_code == 400 and "not JSON" in response.text
    assert _records(harness) == 0


def test_the_fake_sends_exactly_the_keys_of_alertmanagers_structs(am: FakeAlertmanager) -> None:
    am.fire(PRESS, HOT)
    message = am.message()
    assert set(message) == spec_keys("Message")
    assert set(message["alerts"][0]) == spec_keys("Alert")
    assert message["version"] == "4"


# The generic format and the label mapping --------------------------------------------------


def test_the_generic_format_and_the_label_rules_choose_priority_queue_and_machine(
    harness: Harness, web: TestClient
) -> None:
    body = _generic(
        [
            {
                "status": "firing",
                "labels": {
                    "alertname": "GuardDoorOpen",
                    "asset": "ROBOT-2",
                    "severity": "critical",
                },
                "annotations": {"summary": "Safety door open while running"},
                "startsAt": "2026-11-23T14:00:00.5+01:00",
                "generatorURL": "https://scada.plant.example/alarms/77",
            }
        ]
    )
    response = web.post(
        "/alerts/generic",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "alarm-77"},
    )
    assert response.status_code == 202
    again = web.post(
        "/alerts/generic",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "alarm-77"},
    )
    assert again.json()["duplicate"] is True
    harness.settle()
    [ticket] = _tickets(harness)
    assert (ticket["priority"], ticket["queue"], ticket["category"]) == (
        "P1",
        "field-service",
        "hardware",
    )
    assert ticket["links"]["asset"] == "ROBOT-2"
    assert ticket["client"]["address"] == "scada-2"
    assert ticket["alerts"][0]["starts_at"] == "2026-11-23T13:00:00.500000+00:00"
    assert "https://scada.plant.example/alarms/77" in ticket["thread"][0]["text"]
    # A P1 alert ticket escalates like any other when its response target breaks
    assert ticket["sla"]["response"]["target_minutes"] == 15


def test_an_agent_cannot_open_a_ticket_for_the_alerts_channel(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    response = harness.open_by_api(token, "alerts", "alertmanager/plant")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "field.requester.channel"
