"""Notifications to neutral alert values: Alertmanager's webhook (version 4) and the
generic JSON format. Both are read at the edge (a malformed one is refused with 400,
nothing stored) and again by the worker, from the stored bytes.

Alertmanager (``notify/webhook``: ``Message`` = ``template.Data`` + version, groupKey,
truncatedAlerts)::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing",
     "receiver": "plant", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
     "externalURL": "http://alertmanager:9093",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "RFC 3339", "endsAt": "RFC 3339", "generatorURL": "...",
                 "fingerprint": "16 hex digits"}]}

Generic (any monitoring system; only ``source`` and each alert's ``status`` and
``labels`` are required)::

    {"source": "zabbix-plant-2",
     "alerts": [{"status": "firing", "labels": {"alertname": "...", "asset": "PRESS-3"},
                 "annotations": {"summary": "...", "description": "..."},
                 "fingerprint": "optional", "startsAt": "optional RFC 3339",
                 "endsAt": "optional", "generatorURL": "optional"}]}

An alert without a fingerprint gets the one Alertmanager would give it: FNV-1a
(64 bits) over its labels sorted by name, each name and value followed by the byte
0xff, as 16 lower-case hex digits (``model.LabelSet.Fingerprint`` in
prometheus/common). Unknown keys are ignored, as the format asks.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from core.alerts.values import FIRING, RESOLVED, AlertGroup, AlertIn
from core.errors import IntakeError, odd_shapes_refused

FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
SEPARATOR = 0xFF
MASK = (1 << 64) - 1
MAX_ALERTS = 10_000
_FRACTION = re.compile(r"(\.\d{6})\d+")


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common ``labelSetToFingerprint``)."""
    digest = FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in part:
                digest = ((digest ^ byte) * FNV_PRIME) & MASK
            digest = ((digest ^ SEPARATOR) * FNV_PRIME) & MASK
    return f"{digest:016x}"


def parse_time(value: Any, what: str) -> datetime | None:
    """An RFC 3339 time (Go's, with up to nine fraction digits); Go's zero time is None."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise IntakeError(f"{what} must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        raise IntakeError(f"{what} is not an RFC 3339 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= 1:  # time.Time{}: "0001-01-01T00:00:00Z"
        return None
    return parsed.astimezone(UTC)


def _pairs(value: Any, what: str, *, strict: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IntakeError(f"{what} must be an object of names and values")
    out = {}
    for name, item in value.items():
        if isinstance(item, str):
            out[str(name)] = item
        elif not strict and isinstance(item, int | float | bool):
            out[str(name)] = json.dumps(item)
        else:
            raise IntakeError(f"{what}.{name} must be a string")
    return out


def _alert(raw: Any, index: int, *, strict: bool) -> AlertIn:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise IntakeError(f"{where} must be an object")
    status = raw.get("status")
    if status not in (FIRING, RESOLVED):
        raise IntakeError(f"{where}.status must be 'firing' or 'resolved'")
    labels = _pairs(raw.get("labels"), f"{where}.labels", strict=strict)
    if not labels:
        raise IntakeError(f"{where}.labels must name the alert (at least one label)")
    given = raw.get("fingerprint")
    if given is not None and not isinstance(given, str):
        raise IntakeError(f"{where}.fingerprint must be a string")
    url = raw.get("generatorURL") or ""
    if not isinstance(url, str):
        raise IntakeError(f"{where}.generatorURL must be a string")
    ends_at = parse_time(raw.get("endsAt"), f"{where}.endsAt")
    return AlertIn(
        fingerprint=(given or "").strip()[:64] or fingerprint(labels),
        status=status,
        labels=labels,
        annotations=_pairs(raw.get("annotations"), f"{where}.annotations", strict=strict),
        starts_at=parse_time(raw.get("startsAt"), f"{where}.startsAt"),
        ends_at=ends_at if status == RESOLVED else None,
        generator_url=url[:2000],
    )


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise IntakeError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise IntakeError("the body must be a JSON object")
    try:  # a lone surrogate ("\\ud800") is valid JSON but no text a database can hold
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise IntakeError("the body holds a string that is not Unicode text") from None
    return _without_nuls(data)


def _without_nuls(value: Any) -> Any:
    """``value`` with NULs taken out of every string (no database text holds them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nuls(v) for v in value]
    if isinstance(value, dict):
        return {_without_nuls(k): _without_nuls(v) for k, v in value.items()}
    return value


def _alerts(data: dict[str, Any], *, strict: bool) -> tuple[AlertIn, ...]:
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise IntakeError("'alerts' must be a list of at least one alert")
    if len(alerts) > MAX_ALERTS:
        raise IntakeError(f"at most {MAX_ALERTS} alerts per notification")
    return tuple(_alert(a, i, strict=strict) for i, a in enumerate(alerts))


@odd_shapes_refused("the Alertmanager notification")
def alertmanager(body: bytes) -> AlertGroup:
    data = _load(body)
    if str(data.get("version")) != "4":
        raise IntakeError(f"webhook version {data.get('version')!r}; Switchboard reads version 4")
    receiver = data.get("receiver")
    if not isinstance(receiver, str) or not receiver.strip():
        raise IntakeError("'receiver' must name the Alertmanager receiver")
    truncated = data.get("truncatedAlerts") or 0
    if not isinstance(truncated, int) or truncated < 0:
        raise IntakeError("'truncatedAlerts' must be a count")
    external = data.get("externalURL") or ""
    return AlertGroup(
        source=f"alertmanager/{receiver.strip()}"[:320],
        source_name=f"Alertmanager ({receiver.strip()})"[:200],
        alerts=_alerts(data, strict=True),
        group_key=str(data.get("groupKey") or "")[:2000],
        truncated=truncated,
        external_url=external if isinstance(external, str) else "",
    )


@odd_shapes_refused("the alert notification")
def generic(body: bytes) -> AlertGroup:
    data = _load(body)
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise IntakeError("'source' must name the monitoring system that sends")
    return AlertGroup(
        source=source.strip()[:320],
        source_name=source.strip()[:200],
        alerts=_alerts(data, strict=False),
    )


FORMATS = {"alertmanager": alertmanager, "generic": generic}


def parse(raw: bytes, meta: dict[str, Any]) -> AlertGroup:
    """A stored notification, by the format its endpoint recorded in ``meta``."""
    reader = FORMATS.get(str((meta or {}).get("format")))
    if reader is None:
        raise IntakeError(f"unknown alerts format {meta.get('format')!r}")
    return reader(raw)
