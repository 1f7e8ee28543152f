"""Channel-neutral alert values: what an alerts adapter turns a notification into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class AlertIn:
    """One alert of a notification.

    Parameters:
      fingerprint: the alert's identity (Alertmanager's hash of its labels).
      status: ``firing`` or ``resolved``.
      starts_at: when this firing episode began (tells episodes apart).
      ends_at: when it resolved (firing alerts: None).
      generator_url: the link back to what raised it (a Prometheus graph).
    """

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or self.labels.get("title") or "alert"


@dataclass(frozen=True)
class AlertGroup:
    """One notification: the alerts it carries and where it came from.

    Parameters:
      source: the sender's address on the alerts channel (the tickets' requester).
      source_name: how the sender is shown.
      truncated: alerts of the group the sender left out (Alertmanager's max_alerts).
      external_url: the sender's own page (Alertmanager's externalURL).
    """

    source: str
    source_name: str
    alerts: tuple[AlertIn, ...]
    group_key: str = ""
    truncated: int = 0
    external_url: str = ""
