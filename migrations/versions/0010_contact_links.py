"""One client across channels: contacts joined and split, link codes, who wrote what

Revision ID: 0010_contact_links
Revises: 0009_mail_loops
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0010_contact_links"
down_revision = "0009_mail_loops"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = core.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("merged_into_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_contacts_merged_into_id_contacts"), "contacts", ["merged_into_id"], ["id"]
        )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("requester_identity_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_tickets_requester_identity_id_identities"),
            "identities",
            ["requester_identity_id"],
            ["id"],
        )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("author_identity_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_messages_author_identity_id_identities"),
            "identities",
            ["author_identity_id"],
            ["id"],
        )
    # Until now every contact had exactly one identity and a ticket's reply identity
    # was its requester's: both backfills are exact.
    op.execute("UPDATE tickets SET requester_identity_id = reply_identity_id")
    op.execute(
        "UPDATE messages SET author_identity_id = ("
        " SELECT MIN(identities.id) FROM identities"
        " WHERE identities.contact_id = messages.author_contact_id)"
        " WHERE author_contact_id IS NOT NULL"
    )
    op.create_table(
        "contact_links",
        sa.Column("id", BigId, nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("other_contact_id", BigId, nullable=False),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_links_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["other_contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_links_other_contact_id_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_links")),
    )
    op.create_index(op.f("ix_contact_links_contact_id"), "contact_links", ["contact_id"])
    op.create_index(
        op.f("ix_contact_links_other_contact_id"), "contact_links", ["other_contact_id"]
    )
    op.create_table(
        "contact_link_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("used_at", When, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_link_codes_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_contact_link_codes_identity_id_identities"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_contact_link_codes_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_link_codes")),
    )
    op.create_index(op.f("ix_contact_link_codes_contact_id"), "contact_link_codes", ["contact_id"])
    op.create_index("ix_contact_link_codes_target", "contact_link_codes", ["kind", "address"])


def downgrade() -> None:
    op.drop_index("ix_contact_link_codes_target", table_name="contact_link_codes")
    op.drop_index(op.f("ix_contact_link_codes_contact_id"), table_name="contact_link_codes")
    op.drop_table("contact_link_codes")
    op.drop_index(op.f("ix_contact_links_other_contact_id"), table_name="contact_links")
    op.drop_index(op.f("ix_contact_links_contact_id"), table_name="contact_links")
    op.drop_table("contact_links")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(op.f("fk_messages_author_identity_id_identities"), type_="foreignkey")
        batch.drop_column("author_identity_id")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(
            op.f("fk_tickets_requester_identity_id_identities"), type_="foreignkey"
        )
        batch.drop_column("requester_identity_id")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint(op.f("fk_contacts_merged_into_id_contacts"), type_="foreignkey")
        batch.drop_column("merged_into_id")
