"""The alerts channel: monitoring systems raise, update and resolve tickets by webhook.

- ``edge``: ``POST /alerts/alertmanager`` and ``POST /alerts/generic``: checks the
  bearer token or body signature, stores the notification through the front door,
  answers 202 (5xx only when nothing was stored, so the sender retries)
- ``parse``: Alertmanager's webhook (version 4) and the generic format into
  ``core.alerts.values`` (the fingerprint computed as Alertmanager does when missing)

A stored notification is decided by a worker, like any inbound record: this
channel's event handler reads it and hands it to ``core.alerts.apply``. A
monitoring system is not a person: the channel ``answers`` nobody (no
acknowledgement, reply or notice is ever sent to it) and no client can be reached
on it. Configured when ``SWITCHBOARD_ALERTS_TOKEN`` or
``SWITCHBOARD_ALERTS_HMAC_SECRET`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.contract import Channel, Plug

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from channels.alerts.settings import AlertsSettings
    from core.context import Context
    from core.models import InboundRecord

NAME = "alerts"
PATHS = {"alertmanager": "/alerts/alertmanager", "generic": "/alerts/generic"}


def configured(settings: AlertsSettings) -> bool:
    return bool(settings.alerts_token or settings.alerts_hmac_secret)


def plug(ctx: Context, settings: AlertsSettings) -> Plug:
    """The endpoints and the event handler; no platform to reach, so no service."""
    from starlette.routing import Route

    from channels.alerts import edge
    from channels.alerts.parse import parse
    from core.alerts.apply import apply
    from core.intake.frontdoor import FrontDoor

    door = FrontDoor(ctx)

    def mount(web: Any) -> None:
        for kind, path in PATHS.items():
            web.state.body_limits[path] = settings.alerts_max_bytes
            web.router.routes.append(
                Route(
                    path,
                    edge.endpoint(
                        door,
                        kind,
                        token=settings.alerts_token,
                        secret=settings.alerts_hmac_secret,
                        max_bytes=settings.alerts_max_bytes,
                    ),
                    methods=["POST"],
                )
            )

    def handle(session: Session, record: InboundRecord) -> str:
        """A stored notification, applied in the record's transaction (raises: parked)."""
        return apply(ctx, session, parse(record.raw, record.meta), record.id)

    return Plug(events=handle, mount=mount)


CHANNEL = Channel.of(
    __name__, "Alerts (Alertmanager, generic webhook)", clients=False, answers=False
)
