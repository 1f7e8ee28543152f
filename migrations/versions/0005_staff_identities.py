"""Staff addresses per channel as rows (staff_identities), not columns on agents

Revision ID: 0005_staff_identities
Revises: 0004_slack
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import BigId, moment

revision = "0005_staff_identities"
down_revision = "0004_slack"


def upgrade() -> None:
    op.create_table(
        "staff_identities",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agent_id", BigId, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        moment("created_at"),
        sa.UniqueConstraint("channel", "address"),
        sa.UniqueConstraint("agent_id", "channel"),
    )
    op.create_index("ix_staff_identities_agent_id", "staff_identities", ["agent_id"])
    for column, channel in (("slack_user_id", "slack"), ("telegram_chat_id", "telegram")):
        op.execute(
            f"INSERT INTO staff_identities (agent_id, channel, address, created_at) "
            f"SELECT id, '{channel}', {column}, created_at FROM agents "
            f"WHERE {column} IS NOT NULL AND {column} <> ''"
        )
    with op.batch_alter_table("agents") as batch:
        batch.drop_constraint("uq_agents_slack_user_id", type_="unique")
        batch.drop_column("slack_user_id")
        batch.drop_column("telegram_chat_id")


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("slack_user_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("telegram_chat_id", sa.String(length=40), nullable=True))
    for column, channel in (("slack_user_id", "slack"), ("telegram_chat_id", "telegram")):
        op.execute(
            f"UPDATE agents SET {column} = (SELECT address FROM staff_identities s "
            f"WHERE s.agent_id = agents.id AND s.channel = '{channel}')"
        )
    op.drop_index("ix_staff_identities_agent_id", table_name="staff_identities")
    op.drop_table("staff_identities")
