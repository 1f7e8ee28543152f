"""One client across channels: contacts joined and split, link codes, who wrote what

Revision ID: 0010_contact_links
Revises: 0009_mail_loops
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import (
    add_pointers,
    big_id,
    create_indexes,
    create_table,
    drop_indexes,
    drop_pointers,
    moment,
)

revision = "0010_contact_links"
down_revision = "0009_mail_loops"


def upgrade() -> None:
    for table, column, target in POINTERS:
        add_pointers(table, (column, target))
    # Until now every contact had exactly one identity and a ticket's reply identity
    # was its requester's: both backfills are exact.
    op.execute("UPDATE tickets SET requester_identity_id = reply_identity_id")
    op.execute(
        "UPDATE messages SET author_identity_id = ("
        " SELECT MIN(identities.id) FROM identities"
        " WHERE identities.contact_id = messages.author_contact_id)"
        " WHERE author_contact_id IS NOT NULL"
    )
    create_table(
        "contact_links",
        big_id(),
        sa.Column("action", sa.String(length=10), nullable=False),
        big_id("contact_id"),
        big_id("other_contact_id"),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        moment("created_at"),
        refs=[("contact_id", "contacts"), ("other_contact_id", "contacts")],
    )
    create_indexes("contact_links", *LINK_INDEXES)
    create_table(
        "contact_link_codes",
        big_id(),
        big_id("contact_id"),
        big_id("identity_id"),
        big_id("ticket_id", nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        moment("created_at"),
        moment("expires_at"),
        moment("used_at", nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        refs=[("contact_id", "contacts"), ("identity_id", "identities"), ("ticket_id", "tickets")],
    )
    create_indexes("contact_link_codes", *CODE_INDEXES)


# Who a contact was joined into, who asked for a ticket, who wrote a message.
POINTERS = (
    ("contacts", "merged_into_id", "contacts"),
    ("tickets", "requester_identity_id", "identities"),
    ("messages", "author_identity_id", "identities"),
)
LINK_INDEXES = ("contact_id", "other_contact_id")
CODE_INDEXES = ("contact_id", ("ix_contact_link_codes_target", "kind", "address"))


def downgrade() -> None:
    drop_indexes("contact_link_codes", *CODE_INDEXES)
    op.drop_table("contact_link_codes")
    drop_indexes("contact_links", *LINK_INDEXES)
    op.drop_table("contact_links")
    for table, column, target in reversed(POINTERS):
        drop_pointers(table, (column, target))
