"""Inbound records: a second key, what the author wrote, unique per channel

Revision ID: 0021_written_key
Revises: 0020_files
Create Date: 2026-12-01 18:45:00

A mail without a Message-ID is stored under a digest of what its sender wrote; a
relay that adds a Message-ID of its own on the way gave a second copy of the same
mail another external id, and so a second ticket. ``written_key`` holds that digest
for every mail that has a Date, whatever its Message-ID, and is unique per channel.

The uniqueness is a unique index, not a table constraint: on SQLite a constraint
would rebuild ``inbound_records`` (copying every raw message stored), an index does
not; both refuse the same rows, and NULLs (channels without a second key, mail
without a Date) never conflict. Mail stored before under its digest
(``written:...``, no Message-ID) gets it as its written key here, so a relayed copy
of it arriving after the upgrade is still a duplicate; mail stored before under a
Message-ID keeps no written key (reading it would mean parsing every stored message).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_written_key"
down_revision = "0020_files"

INDEX = "uq_inbound_records_channel_written_key"


def upgrade() -> None:
    with op.batch_alter_table("inbound_records") as batch:
        batch.add_column(sa.Column("written_key", sa.String(length=80), nullable=True))
    op.execute(
        "UPDATE inbound_records SET written_key = external_id"
        " WHERE channel = 'email' AND external_id LIKE 'written:%'"
        " AND length(external_id) <= 80"
    )
    op.create_index(INDEX, "inbound_records", ["channel", "written_key"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="inbound_records")
    with op.batch_alter_table("inbound_records") as batch:
        batch.drop_column("written_key")
