"""Idempotency keys of the JSON API: one row per caller and key, with the answer

Revision ID: 0015_idempotency_keys
Revises: 0014_whatsapp
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_indexes, create_table, drop_indexes, moment

revision = "0015_idempotency_keys"
down_revision = "0014_whatsapp"


def upgrade() -> None:
    create_table(
        "idempotent_requests",
        big_id(),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("process_id", sa.String(length=80), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        moment("created_at"),
        moment("expires_at"),
        constraints=[
            sa.UniqueConstraint("caller", "key", name=op.f("uq_idempotent_requests_callerkey"))
        ],
    )
    create_indexes("idempotent_requests", "expires_at")


def downgrade() -> None:
    drop_indexes("idempotent_requests", "expires_at")
    op.drop_table("idempotent_requests")
