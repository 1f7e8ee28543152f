"""KPI facts per ticket and satisfaction answers

Revision ID: 0013_kpis
Revises: 0012_operator_tools

``ticket_facts`` holds one row per ticket, kept by every change from now on; the
tickets already stored get theirs from their columns and their audit events
(reopens and escalations counted from the ``reopen`` and ``escalate`` events, the
deadlines of running clocks from the ticket). Their met or breached clocks count as
pending until their next change.
``satisfaction_answers`` holds the client's answer per resolution. An index on
tickets (status, queue_id) lets ``/metrics`` count queue depths from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import BigId, moment, pointer

revision = "0013_kpis"
down_revision = "0012_operator_tools"


def upgrade() -> None:
    op.create_table(
        "ticket_facts",
        sa.Column(
            "ticket_id",
            BigId,
            sa.ForeignKey("tickets.id", name="fk_ticket_facts_ticket_id_tickets"),
            primary_key=True,
        ),
        moment("opened_at"),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        moment("first_response_at", nullable=True),
        moment("resolved_at", nullable=True),
        sa.Column("response_sla", sa.String(10), nullable=True),
        sa.Column("resolution_sla", sa.String(10), nullable=True),
        moment("response_due_at", nullable=True),
        moment("resolution_due_at", nullable=True),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("fixed", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_ticket_facts_opened", "ticket_facts", ["opened_at"])
    op.create_table(
        "satisfaction_answers",
        sa.Column("id", BigId, primary_key=True),
        pointer("satisfaction_answers", "ticket_id", "tickets", nullable=False),
        sa.Column(
            "resolution_id",
            BigId,
            sa.ForeignKey(
                "resolution_records.id",
                name="fk_satisfaction_answers_resolution_id_resolution_records",
            ),
            nullable=False,
        ),
        sa.Column("fixed", sa.Boolean(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        moment("created_at"),
        moment("updated_at"),
        sa.UniqueConstraint("resolution_id", name="uq_satisfaction_answers_resolution_id"),
    )
    op.create_index("ix_satisfaction_answers_ticket_id", "satisfaction_answers", ["ticket_id"])
    op.create_index("ix_tickets_status_queue", "tickets", ["status", "queue_id"])
    op.execute(
        """
        INSERT INTO ticket_facts (ticket_id, opened_at, priority, queue_id, category_id,
            assignee_id, first_response_at, resolved_at, response_due_at, resolution_due_at,
            reopens, escalations)
        SELECT t.id, t.created_at, t.priority, t.queue_id, t.category_id, t.assignee_id,
            CASE WHEN t.first_response_at IS NULL THEN t.acknowledged_at
                 WHEN t.acknowledged_at IS NULL THEN t.first_response_at
                 WHEN t.acknowledged_at < t.first_response_at THEN t.acknowledged_at
                 ELSE t.first_response_at END,
            t.resolved_at, t.response_due_at, t.resolution_due_at,
            (SELECT count(*) FROM audit_events a WHERE a.ticket_id = t.id AND a.action = 'reopen'),
            (SELECT count(*) FROM audit_events a WHERE a.ticket_id = t.id AND a.action = 'escalate')
        FROM tickets t
        """
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_status_queue", table_name="tickets")
    op.drop_index("ix_satisfaction_answers_ticket_id", table_name="satisfaction_answers")
    op.drop_table("satisfaction_answers")
    op.drop_index("ix_ticket_facts_opened", table_name="ticket_facts")
    op.drop_table("ticket_facts")
