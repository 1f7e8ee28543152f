"""Merged tickets: the tickets merged into one are found by an index

Revision ID: 0020_files
Revises: 0019_rules
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0020_files"
down_revision = "0019_rules"


def upgrade() -> None:
    op.create_index(op.f("ix_tickets_merged_into_id"), "tickets", ["merged_into_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_merged_into_id"), table_name="tickets")
