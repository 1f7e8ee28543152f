"""API tokens of their own; full-text search over tickets, clients and messages

Revision ID: 0012_operator_tools
Revises: 0011_assets

``api_tokens``: an agent may hold several named tokens, each revocable on its own.
The one token each agent had (``agents.api_token_hash``) becomes their first row
here, named ``first``; the old column is emptied and no longer read (dropping it
on SQLite would rebuild a table many others point at).

Search: the words of ticket subjects, client names, client addresses and message
texts are indexed by the database itself (``core.tickets.search`` queries them).

- SQLite: FTS5 tables over those columns (external content: the words only), kept
  by triggers on insert, update and delete, so a message is findable in the
  transaction that stores it.
- PostgreSQL: a stored generated ``tsvector`` column ``words`` on each of those
  tables, ``to_tsvector('simple', ...)`` of the column with punctuation made a word
  break first (as FTS5's tokenizer does), under a GIN index; PostgreSQL computes it
  in the statement that writes the row. (Adding it rewrites each table once.)

A later migration that rebuilds one of these tables on SQLite (``batch_alter_table``
copies and drops it) drops its triggers with it: it must create them again, as
``upgrade`` below does (tests/test_search.py fails if a message stops being found).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import BigId, moment

revision = "0012_operator_tools"
down_revision = "0011_assets"

# (index name, table, column): what search reads (core.tickets.search).
SEARCHED = (
    ("tickets_fts", "tickets", "subject"),
    ("messages_fts", "messages", "body_text"),
    ("contacts_fts", "contacts", "name"),
    ("identities_fts", "identities", "address"),
)


def _pg_vector(column: str) -> str:
    return (
        f"to_tsvector('simple'::regconfig, "
        f"regexp_replace(coalesce({column}, ''), '[[:punct:]]+', ' ', 'g'))"
    )


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("agent_id", BigId, sa.ForeignKey("agents.id"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        moment("created_at"),
        sa.Column("created_by", sa.String(200), nullable=False),
        moment("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
    )
    op.execute(
        "INSERT INTO api_tokens (agent_id, name, token_hash, hint, created_at, created_by) "
        "SELECT id, 'first', api_token_hash, 'sbt_…', created_at, 'migration' "
        "FROM agents WHERE api_token_hash IS NOT NULL"
    )
    op.execute("UPDATE agents SET api_token_hash = NULL")
    if op.get_bind().dialect.name == "postgresql":
        for name, table, column in SEARCHED:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN words tsvector "
                f"GENERATED ALWAYS AS ({_pg_vector(column)}) STORED"
            )
            op.execute(f"CREATE INDEX ix_{name} ON {table} USING gin (words)")
        return
    for name, table, column in SEARCHED:
        op.execute(
            f"CREATE VIRTUAL TABLE {name} USING fts5({column}, content='{table}', "
            "content_rowid='id')"
        )
        insert = f"INSERT INTO {name}(rowid, {column}) VALUES (new.id, new.{column});"
        delete = (
            f"INSERT INTO {name}({name}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
        )
        op.execute(f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {insert} END")
        op.execute(f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {delete} END")
        op.execute(
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column} ON {table} "
            f"BEGIN {delete} {insert} END"
        )
        op.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _column in SEARCHED:
            op.execute(f"DROP INDEX IF EXISTS ix_{name}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS words")
    else:
        for name, _table, _column in SEARCHED:
            for verb in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{verb}")
            op.execute(f"DROP TABLE IF EXISTS {name}")
    op.execute(
        "UPDATE agents SET api_token_hash = (SELECT token_hash FROM api_tokens "
        "WHERE api_tokens.agent_id = agents.id AND revoked_at IS NULL ORDER BY id LIMIT 1)"
    )
    op.drop_table("api_tokens")
