"""Privacy: audit events that can be erased without breaking their chain

Revision ID: 0018_privacy
Revises: 0017_tracking
Create Date: 2026-12-04 10:00:00

``audit_events`` gains ``salt``, ``data_digest``, ``erased_at`` and ``erased_by``.
Events written from now on are hashed over a salted SHA-256 digest of their data
(``core.audit``), so erasing a client's personal data can empty ``data`` and drop
the salt while keeping the digest: the chain still verifies. Events written before
keep their hashes (covering ``data`` itself) and verify as before; nothing is
re-hashed.

The append-only triggers let one kind of update through on ``audit_events``: an
erasure (``erased_at`` set once, and nothing the hash covers changed), and on
``resolution_records`` the steps replaced by ``[erased]``. Everything else is still
refused, deletes too.

``contacts.erased_at``: when the contact's personal data was erased.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0018_privacy"
down_revision = "0017_tracking"

When = core.models.base.UTCDateTime(timezone=True)

# The one update an audit event may take: its erasure (core.audit.erase).
AUDIT_ERASURE = (
    "OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL AND NEW.erased_by IS NOT NULL"
    " AND NEW.id = OLD.id AND NEW.chain = OLD.chain AND NEW.seq = OLD.seq"
    " AND NEW.ticket_id IS NOT DISTINCT FROM OLD.ticket_id AND NEW.actor = OLD.actor"
    " AND NEW.action = OLD.action AND NEW.created_at = OLD.created_at"
    " AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash AND NEW.salt IS NULL"
    " AND (OLD.salt IS NULL) = (NEW.data_digest IS NULL)"
)
# ... and a resolution record: its steps replaced, nothing else.
RESOLUTION_ERASURE = (
    "NEW.steps = '[erased]' AND NEW.id = OLD.id AND NEW.ticket_id = OLD.ticket_id"
    " AND NEW.code = OLD.code AND NEW.agent_id IS NOT DISTINCT FROM OLD.agent_id"
    " AND NEW.asset_id IS NOT DISTINCT FROM OLD.asset_id AND NEW.created_at = OLD.created_at"
)
GUARDED = {"audit_events": AUDIT_ERASURE, "resolution_records": RESOLUTION_ERASURE}


def _sqlite(condition: str) -> str:
    return condition.replace("IS NOT DISTINCT FROM", "IS")


def _refusal(table: str) -> str:
    return f"switchboard: {table} is append-only (UPDATE refused: only an erasure may change it)"


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("salt", sa.String(32), nullable=True))
    op.add_column("audit_events", sa.Column("data_digest", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("erased_at", When, nullable=True))
    op.add_column("audit_events", sa.Column("erased_by", sa.String(120), nullable=True))
    op.add_column("contacts", sa.Column("erased_at", When, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table, condition in GUARDED.items():
            op.execute(
                f"""
                CREATE FUNCTION switchboard_{table}_erasure_only() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                  IF TG_OP = 'UPDATE' AND {condition} THEN
                    RETURN NEW;
                  END IF;
                  RAISE EXCEPTION 'switchboard: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
                END $$;
                """
            )
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION switchboard_{table}_erasure_only()"
            )
        return
    for table, condition in GUARDED.items():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"WHEN NOT ({_sqlite(condition)}) "
            f"BEGIN SELECT RAISE(ABORT, '{_refusal(table)}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION switchboard_append_only()"
            )
            op.execute(f"DROP FUNCTION IF EXISTS switchboard_{table}_erasure_only()")
    else:
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'switchboard: {table} is append-only "
                "(UPDATE refused)'); END"
            )
    # A plain DROP COLUMN (SQLite 3.35+ too): a batch copy would lose the triggers.
    op.execute("ALTER TABLE contacts DROP COLUMN erased_at")
    for column in ("erased_by", "erased_at", "data_digest", "salt"):
        op.execute(f"ALTER TABLE audit_events DROP COLUMN {column}")
