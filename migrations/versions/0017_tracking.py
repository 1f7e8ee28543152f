"""Clients on the web: when a hold is looked at again, and the portal form's sendings

Revision ID: 0017_tracking
Revises: 0016_telegram
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0017_tracking"
down_revision = "0016_telegram"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = core.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("hold_until", When, nullable=True))
    op.create_table(
        "portal_submissions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("form_key", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_portal_submissions_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_submissions")),
        sa.UniqueConstraint("form_key", name=op.f("uq_portal_submissions_form_key")),
    )
    op.create_index("ix_portal_submissions_email", "portal_submissions", ["email", "created_at"])
    op.create_index("ix_portal_submissions_ip", "portal_submissions", ["ip", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_portal_submissions_ip", table_name="portal_submissions")
    op.drop_index("ix_portal_submissions_email", table_name="portal_submissions")
    op.drop_table("portal_submissions")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("hold_until")
