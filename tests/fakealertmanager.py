"""A fake Prometheus Alertmanager: the webhook notifier of one receiver, one group.

It builds each notification as ``notify/webhook`` does (``tests/specs/alertmanager``):
the ``Message`` is the template ``Data`` (receiver, status, alerts, the common labels
and annotations, ...) plus ``version`` "4", ``groupKey`` and ``truncatedAlerts``; with
``max_alerts`` the list is cut and the rest counted. Times are Go's RFC 3339 with
nanoseconds (a firing alert carries the ``endsAt`` Prometheus keeps pushing ahead;
Go's zero time where there is none). It posts as the retrier expects an answer: 2xx
done, 5xx retried (the same body), any other status given up. A resolved alert is
sent once more and then forgotten, as the aggregation group does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SPECS = Path(__file__).resolve().parent / "specs" / "alertmanager"
TOKEN = "am-test-token"
EXTERNAL_URL = "http://alertmanager.plant.example:9093"
GO_ZERO = "0001-01-01T00:00:00Z"


def go_time(at: datetime | None) -> str:
    """Go's ``time.Time`` JSON (RFC 3339 with nanoseconds, trailing zeros cut)."""
    if at is None:
        return GO_ZERO
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += (".%06d000" % at.microsecond).rstrip("0")  # noqa: UP031
    return text + "Z"


def label_fingerprint(labels: dict[str, str]) -> str:
    """``model.LabelSet.Fingerprint().String()``: FNV-1a 64 over sorted name/value, 0xff after each."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for chunk in (name.encode() + b"\xff", labels[name].encode() + b"\xff"):
            for byte in chunk:
                h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return format(h, "016x")


def spec_keys(struct: str) -> set[str]:
    """The JSON keys of a Go struct in the copied sources (embedded structs included)."""
    sources = "".join(p.read_text() for p in SPECS.glob("*.go"))
    body = re.search(rf"type {struct} struct {{(.*?)\n}}", sources, re.S)
    assert body, struct
    keys = set(re.findall(r'json:"([^",]+)', body.group(1)))
    for embedded in re.findall(r"^\s*\*?(?:\w+\.)?(\w+)\s*$", body.group(1), re.M):
        keys |= spec_keys(embedded)
    return keys


@dataclass
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    generator_url: str
    ends_at: datetime | None = None  # set when resolved

    @property
    def status(self) -> str:
        return "resolved" if self.ends_at is not None else "firing"


@dataclass
class FakeAlertmanager:
    client: Any  # a Starlette TestClient on Switchboard's web app
    receiver: str = "plant"
    token: str = TOKEN
    max_alerts: int = 0
    send_fingerprint: bool = True
    group_by: tuple[str, ...] = ("alertname",)
    path: str = "/alerts/alertmanager"
    alerts: dict[str, Alert] = field(default_factory=dict)
    answers: list[int] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 14, 0, 0, 123456, UTC))

    # The alerts the group holds --------------------------------------------------------

    def fire(
        self, labels: dict[str, str], annotations: dict[str, str] | None = None, **more: str
    ) -> Alert:
        """A firing alert joins the group (or a known one gets new annotations)."""
        key = label_fingerprint(labels)
        alert = self.alerts.get(key)
        if alert is None or alert.ends_at is not None:
            alert = self.alerts[key] = Alert(
                dict(labels),
                dict(annotations or {}),
                self.now,
                more.get("generator_url", "http://prometheus.plant.example:9090/graph?g0.expr=up"),
            )
        elif annotations is not None:
            alert.annotations = dict(annotations)
        return alert

    def resolve(self, labels: dict[str, str]) -> None:
        self.alerts[label_fingerprint(labels)].ends_at = self.now

    def later(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    # The notification ---------------------------------------------------------------------

    def message(self, reason: str = "first_notification") -> dict[str, Any]:
        """What ``Notifier.Notify`` encodes for the group as it stands."""
        alerts = list(self.alerts.values())
        truncated = 0
        if self.max_alerts and len(alerts) > self.max_alerts:
            alerts, truncated = alerts[: self.max_alerts], len(alerts) - self.max_alerts
        group = {n: alerts[0].labels[n] for n in self.group_by if alerts and n in alerts[0].labels}
        common_labels = dict(alerts[0].labels) if alerts else {}
        common_annotations = dict(alerts[0].annotations) if alerts else {}
        for a in alerts[1:]:
            common_labels = {k: v for k, v in common_labels.items() if a.labels.get(k) == v}
            common_annotations = {
                k: v for k, v in common_annotations.items() if a.annotations.get(k) == v
            }
        pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(group.items()))
        return {
            "receiver": self.receiver,
            "status": "firing" if any(a.status == "firing" for a in alerts) else "resolved",
            "alerts": [
                {
                    "status": a.status,
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": go_time(a.starts_at),
                    # Prometheus keeps a firing alert's end a few minutes ahead
                    "endsAt": go_time(a.ends_at or self.now + timedelta(minutes=4)),
                    "generatorURL": a.generator_url,
                    "fingerprint": label_fingerprint(a.labels) if self.send_fingerprint else "",
                }
                for a in alerts
            ],
            "notification_reason": reason,
            "groupLabels": group,
            "commonLabels": common_labels,
            "commonAnnotations": common_annotations,
            "routeLabels": {},
            "externalURL": EXTERNAL_URL,
            "version": "4",
            "groupKey": f"{{}}:{{{pairs}}}",
            "truncatedAlerts": truncated,
        }

    def notify(
        self, reason: str = "first_notification", *, attempts: int = 3, headers: Any = None
    ) -> httpx.Response:
        """Post the group's notification, retrying 5xx like Alertmanager's retrier; resolved
        alerts are forgotten once a notification carrying them got a 2xx."""
        body = json.dumps(self.message(reason)).encode()
        sent = {k: a for k, a in self.alerts.items() if a.status == "resolved"}
        for _ in range(attempts):
            response = self.post(body, headers=headers)
            self.answers.append(response.status_code)
            if response.status_code < 500:
                break
        if 200 <= response.status_code < 300:
            for key in sent:
                self.alerts.pop(key, None)
        return response

    def post(self, body: bytes, *, headers: Any = None) -> Any:
        given = (
            headers
            if headers is not None
            else {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        )
        return self.client.post(self.path, content=body, headers=given)
