"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 15:40:51.637217
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import (
    IndexSpec,
    big_id,
    create_indexes,
    create_table,
    drop_indexes,
    moment,
    stamps,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "agents",
        big_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=40), nullable=True),
        sa.Column("telegram_chat_id", sa.String(length=40), nullable=True),
        sa.Column("api_token_hash", sa.String(length=64), nullable=True),
        sa.Column("preferences", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        moment("created_at"),
        unique=[("api_token_hash",), ("email",), ("slack_user_id",)],
    )
    create_table(
        "audit_checkpoints",
        big_id(),
        sa.Column("heads", sa.JSON(), nullable=False),
        moment("created_at"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    create_table(
        "audit_events",
        big_id(),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        big_id("ticket_id", nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        moment("created_at"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        unique=[("chain", "seq")],
    )
    create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        key=["chain"],
    )
    create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        key=["sha256"],
    )
    create_table(
        "categories",
        big_id(),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        unique=[("slug",)],
    )
    create_table(
        "organizations",
        big_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("email_domain", sa.String(length=200), nullable=True),
        moment("created_at"),
        unique=[("email_domain",), ("name",)],
    )
    create_table(
        "queues",
        big_id(),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slack_channel", sa.String(length=40), nullable=True),
        unique=[("slug",)],
    )
    create_table(
        "resolution_codes",
        big_id(),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        unique=[("code",)],
    )
    create_table(
        "contacts",
        big_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        big_id("organization_id", nullable=True),
        moment("created_at"),
        refs=[("organization_id", "organizations")],
    )
    create_table(
        "identities",
        big_id(),
        big_id("contact_id"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("display", sa.String(length=200), nullable=False),
        moment("created_at"),
        refs=[("contact_id", "contacts")],
        unique=[("kind", "address")],
    )
    create_table(
        "tickets",
        big_id(),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=4), nullable=False),
        sa.Column("priority_reason", sa.String(length=300), nullable=False),
        big_id("category_id", nullable=True),
        big_id("queue_id", nullable=True),
        big_id("contact_id"),
        big_id("organization_id", nullable=True),
        big_id("assignee_id", nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        big_id("reply_identity_id", nullable=True),
        sa.Column("hold_reason", sa.String(length=30), nullable=True),
        sa.Column("hold_parts_ref", sa.String(length=120), nullable=True),
        sa.Column("hold_note", sa.Text(), nullable=True),
        sa.Column("asset_ref", sa.String(length=120), nullable=True),
        sa.Column("site_ref", sa.String(length=120), nullable=True),
        sa.Column("work_order_ref", sa.String(length=120), nullable=True),
        sa.Column("location", sa.String(length=300), nullable=True),
        big_id("merged_into_id", nullable=True),
        big_id("linked_from_id", nullable=True),
        sa.Column("tracking_token", sa.String(length=64), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("sla_policy", sa.String(length=60), nullable=True),
        *(
            moment(name, nullable=True)
            for name in (
                "response_due_at",
                "resolution_due_at",
                "next_checkpoint_at",
                "first_response_at",
                "acknowledged_at",
                "resolved_at",
                "closed_at",
            )
        ),
        *stamps(),
        refs=[
            ("assignee_id", "agents"),
            ("category_id", "categories"),
            ("contact_id", "contacts"),
            ("linked_from_id", "tickets"),
            ("merged_into_id", "tickets"),
            ("organization_id", "organizations"),
            ("queue_id", "queues"),
            ("reply_identity_id", "identities"),
        ],
        unique=[("tracking_token",)],
    )
    create_table(
        "inbound_records",
        big_id(),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("transport", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=998), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("rules_fired", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        big_id("ticket_id", nullable=True),
        big_id("message_id", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        moment("received_at"),
        moment("enqueued_at", nullable=True),
        moment("decided_at", nullable=True),
        refs=[("ticket_id", "tickets")],
        unique=[("channel", "external_id")],
    )
    create_table(
        "overrides",
        big_id(),
        big_id("ticket_id"),
        big_id("agent_id"),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        moment("created_at"),
        refs=[("agent_id", "agents"), ("ticket_id", "tickets")],
    )
    create_table(
        "participants",
        big_id(),
        big_id("ticket_id"),
        big_id("contact_id"),
        sa.Column("role", sa.String(length=20), nullable=False),
        moment("created_at"),
        refs=[("contact_id", "contacts"), ("ticket_id", "tickets")],
        unique=[("ticket_id", "contact_id")],
    )
    create_table(
        "resolution_records",
        big_id(),
        big_id("ticket_id"),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        big_id("agent_id", nullable=True),
        moment("created_at"),
        refs=[("agent_id", "agents"), ("ticket_id", "tickets")],
    )
    create_table(
        "messages",
        big_id(),
        big_id("ticket_id"),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        big_id("author_contact_id", nullable=True),
        big_id("author_agent_id", nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=998), nullable=True),
        big_id("inbound_record_id", nullable=True),
        moment("created_at"),
        refs=[
            ("author_agent_id", "agents"),
            ("author_contact_id", "contacts"),
            ("inbound_record_id", "inbound_records"),
            ("ticket_id", "tickets"),
        ],
    )
    create_table(
        "attachments",
        big_id(),
        big_id("message_id"),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.String(length=200), nullable=True),
        refs=[("message_id", "messages")],
    )
    create_table(
        "outbox",
        big_id(),
        sa.Column("key", sa.String(length=200), nullable=False),
        big_id("ticket_id", nullable=True),
        big_id("message_id", nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=998), nullable=True),
        *(
            moment(name, nullable=True)
            for name in ("not_before", "next_attempt_at", "claimed_at", "enqueued_at")
        ),
        moment("created_at"),
        moment("sent_at", nullable=True),
        refs=[("message_id", "messages"), ("ticket_id", "tickets")],
        unique=[("key",)],
    )
    for table, indexes in INDEXES.items():
        create_indexes(table, *indexes)
    append_only_triggers()


# The indexes of the tables above, created once all the tables are.
INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "audit_events": ("ticket_id",),
    "identities": ("contact_id",),
    "tickets": (
        "assignee_id",
        "contact_id",
        ("ix_tickets_next_checkpoint", "next_checkpoint_at"),
        "queue_id",
        ("ix_tickets_status_priority", "status", "priority"),
    ),
    "inbound_records": (("ix_inbound_records_status", "status"),),
    "overrides": ("ticket_id",),
    "participants": ("contact_id", "ticket_id"),
    "resolution_records": ("ticket_id",),
    "messages": (("ix_messages_external", "channel", "external_id"), "ticket_id"),
    "attachments": ("message_id", "sha256"),
    "outbox": (("ix_outbox_status_next", "status", "next_attempt_at"), "ticket_id"),
}


# Audit events, checkpoints and resolution records are append-only: the database
# itself refuses updates and deletes (and TRUNCATE on PostgreSQL).
APPEND_ONLY = ("audit_events", "audit_checkpoints", "resolution_records")


def append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION switchboard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'switchboard: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION switchboard_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION switchboard_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'switchboard: {table} is append-only ({verb} refused)'); END"
                )


def drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS switchboard_append_only()")
    else:
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def downgrade() -> None:
    drop_append_only_triggers()
    for table, indexes in reversed(INDEXES.items()):
        drop_indexes(table, *indexes)
    for table in TABLES[::-1]:
        op.drop_table(table)


TABLES = (
    "agents",
    "audit_checkpoints",
    "audit_events",
    "audit_heads",
    "blobs",
    "categories",
    "organizations",
    "queues",
    "resolution_codes",
    "contacts",
    "identities",
    "tickets",
    "inbound_records",
    "overrides",
    "participants",
    "resolution_records",
    "messages",
    "attachments",
    "outbox",
)
