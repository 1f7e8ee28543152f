"""``GET /metrics``: Prometheus text exposition (``prometheus_client`` writes it).

Unauthenticated like ``/healthz`` (counts only, no names of clients or tickets);
figures come from the database at scrape time (``core.kpis.metrics``).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from core.context import Context
from core.kpis import metrics

router = APIRouter(include_in_schema=False)


class _Collector:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        with self.ctx.db.reading() as session:
            snap = metrics.snapshot(session, self.ctx.now())
        for kind, name, text, labels, counts in (
            (
                CounterMetricFamily,
                "switchboard_intake",
                "Inbound messages stored, by channel and what became of them",
                ["channel", "outcome"],
                snap.intake,
            ),
            (
                GaugeMetricFamily,
                "switchboard_deliveries",
                "Outbox deliveries by channel and status",
                ["channel", "status"],
                snap.deliveries,
            ),
            (
                GaugeMetricFamily,
                "switchboard_open_tickets_sla",
                "Open tickets by SLA state (ok, at_risk, breached)",
                ["state"],
                snap.sla,
            ),
            (
                GaugeMetricFamily,
                "switchboard_queue_depth",
                "Open tickets by queue and status",
                ["queue", "status"],
                snap.queues,
            ),
            (
                GaugeMetricFamily,
                "switchboard_escalations",
                "Escalation chains by status (active, acknowledged, finished, stopped)",
                ["status"],
                snap.escalations,
            ),
        ):
            family = kind(name, text, labels=labels)
            for values, value in counts:
                family.add_metric(list(values), value)
            yield family


@router.get("/metrics")
def scrape(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(request.app.state.ctx))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
