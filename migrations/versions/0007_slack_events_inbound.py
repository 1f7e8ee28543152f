"""Slack events are inbound records: pending ones move over, slack_events goes

Revision ID: 0007_slack_events_inbound
Revises: 0006_sla_attention

Everything that arrives now goes through one front door into inbound_records
(channel 'slack', the event id as external id, the kind in meta), with
attempts and a parked state like any other record.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from migrations.schema import UTC, create_slack_events, drop_slack_events

revision = "0007_slack_events_inbound"
down_revision = "0006_sla_attention"


def upgrade() -> None:
    conn = op.get_bind()
    events = sa.table(
        "slack_events",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("status", sa.String),
        sa.column("received_at", UTC),
    )
    records = sa.table(
        "inbound_records",
        sa.column("channel", sa.String),
        sa.column("external_id", sa.String),
        sa.column("raw", sa.LargeBinary),
        sa.column("meta", sa.JSON),
        sa.column("transport", sa.String),
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("received_at", UTC),
    )
    pending = conn.execute(
        sa.select(events.c.id, events.c.kind, events.c.payload, events.c.received_at).where(
            events.c.status == "pending"
        )
    ).all()
    if pending:
        op.bulk_insert(
            records,
            [
                {
                    "channel": "slack",
                    "external_id": row.id,
                    "raw": json.dumps(row.payload).encode(),
                    "meta": {"kind": row.kind},
                    "transport": "events",
                    "status": "pending",
                    "attempts": 0,
                    "received_at": row.received_at,
                }
                for row in pending
            ],
        )
    drop_slack_events()


def downgrade() -> None:
    create_slack_events()
