"""Sites, assets, work orders and alerts as records; tickets and resolutions link to them

Revision ID: 0011_assets
Revises: 0010_contact_links

The free-text references on tickets (asset_ref, site_ref, work_order_ref) become
records: one per distinct reference (matched without regard to case or repeated
spaces), linked from the tickets that named it; an asset's site and a work
order's asset and site are taken from the tickets that named them together.
Resolutions of tickets about an asset become that asset's history
(resolution_records.asset_id; the append-only trigger is lifted for that update
only). ``location`` stays free text on the ticket.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import (
    UTC,
    BigId,
    add_pointers,
    drop_pointers,
    moment,
    pointer,
    stamps,
)

revision = "0011_assets"
down_revision = "0010_contact_links"

# The records a ticket names, by the column that points at them.
TICKET_RECORDS = (("asset_id", "assets"), ("site_id", "sites"), ("work_order_id", "work_orders"))


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        *stamps(),
        sa.UniqueConstraint("key", name="uq_sites_key"),
    )
    op.create_table(
        "assets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("tag", sa.String(120), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("serial", sa.String(120), nullable=False),
        pointer("assets", "site_id", "sites"),
        sa.Column("location", sa.String(300), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        *stamps(),
        sa.UniqueConstraint("key", name="uq_assets_key"),
    )
    op.create_index("ix_assets_site_id", "assets", ["site_id"])
    op.create_table(
        "work_orders",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("number", sa.String(120), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        pointer("work_orders", "asset_id", "assets"),
        pointer("work_orders", "site_id", "sites"),
        *stamps(),
        moment("closed_at", nullable=True),
        sa.UniqueConstraint("key", name="uq_work_orders_key"),
    )
    op.create_index("ix_work_orders_asset_status", "work_orders", ["asset_id", "status"])
    op.create_index("ix_work_orders_site_id", "work_orders", ["site_id"])
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("generator_url", sa.Text(), nullable=False),
        moment("starts_at", nullable=True),
        moment("ends_at", nullable=True),
        pointer("alerts", "ticket_id", "tickets"),
        pointer("alerts", "asset_id", "assets"),
        sa.Column("last_record_id", sa.BigInteger(), nullable=False),
        moment("first_seen_at"),
        moment("updated_at"),
        sa.UniqueConstraint("fingerprint", name="uq_alerts_fingerprint"),
    )
    op.create_index("ix_alerts_ticket_id", "alerts", ["ticket_id"])
    op.create_index("ix_alerts_asset_status", "alerts", ["asset_id", "status"])

    add_pointers("tickets", *TICKET_RECORDS)
    _records_from_refs()
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("asset_ref")
        batch.drop_column("site_ref")
        batch.drop_column("work_order_ref")
        batch.create_index("ix_tickets_asset", ["asset_id", "id"])
        batch.create_index("ix_tickets_site", ["site_id", "id"])
        batch.create_index("ix_tickets_work_order", ["work_order_id", "id"])

    # Not batch mode: on SQLite that would copy the table and lose its append-only
    # triggers; SQLite adds a column with its reference in one plain ALTER TABLE.
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "resolution_records",
            sa.Column(
                "asset_id",
                BigId,
                sa.ForeignKey("assets.id", name="fk_resolution_records_asset_id_assets"),
                nullable=True,
            ),
        )
    else:
        op.execute(
            "ALTER TABLE resolution_records ADD COLUMN asset_id INTEGER "
            "CONSTRAINT fk_resolution_records_asset_id_assets REFERENCES assets (id)"
        )
    op.create_index("ix_resolution_records_asset", "resolution_records", ["asset_id", "id"])
    _history_from_tickets()


def _clean(ref: str) -> str:
    return " ".join(ref.split())[:120]


def _records_from_refs() -> None:
    conn = op.get_bind()
    tickets = sa.table(
        "tickets",
        sa.column("id", BigId),
        sa.column("asset_ref", sa.String),
        sa.column("site_ref", sa.String),
        sa.column("work_order_ref", sa.String),
        sa.column("asset_id", BigId),
        sa.column("site_id", BigId),
        sa.column("work_order_id", BigId),
        sa.column("created_at", UTC),
    )

    def common() -> list[sa.sql.expression.ColumnClause[object]]:
        return [sa.column("id", BigId), sa.column("key", sa.String)]

    def stamps() -> list[sa.sql.expression.ColumnClause[object]]:
        return [sa.column("created_at", UTC), sa.column("updated_at", UTC)]

    tables = {
        "assets": sa.table(
            "assets",
            *common(),
            sa.column("tag", sa.String),
            sa.column("name", sa.String),
            sa.column("model", sa.String),
            sa.column("serial", sa.String),
            sa.column("location", sa.String),
            sa.column("attributes", sa.JSON),
            sa.column("site_id", BigId),
            *stamps(),
        ),
        "sites": sa.table(
            "sites",
            *common(),
            sa.column("code", sa.String),
            sa.column("name", sa.String),
            sa.column("address", sa.Text),
            *stamps(),
        ),
        "work_orders": sa.table(
            "work_orders",
            *common(),
            sa.column("number", sa.String),
            sa.column("title", sa.String),
            sa.column("status", sa.String),
            sa.column("asset_id", BigId),
            sa.column("site_id", BigId),
            *stamps(),
        ),
    }
    blank = {
        "assets": {"name": "", "model": "", "serial": "", "location": "", "attributes": {}},
        "sites": {"name": "", "address": ""},
        "work_orders": {"title": "", "status": "open"},
    }
    refs = {"assets": "tag", "sites": "code", "work_orders": "number"}
    ids: dict[tuple[str, str], int] = {}
    filled: set[tuple[str, int, str]] = set()

    def record(name: str, ref: str | None, at: object) -> int | None:
        if not ref or not _clean(ref):
            return None
        key = _clean(ref).lower()
        if (name, key) not in ids:
            table = tables[name]
            values = {"key": key, refs[name]: _clean(ref), **blank[name]}
            conn.execute(sa.insert(table).values(**values, created_at=at, updated_at=at))
            ids[(name, key)] = conn.execute(
                sa.select(table.c.id).where(table.c.key == key)
            ).scalar_one()
        return ids[(name, key)]

    rows = conn.execute(
        sa.select(
            tickets.c.id,
            tickets.c.asset_ref,
            tickets.c.site_ref,
            tickets.c.work_order_ref,
            tickets.c.created_at,
        )
        .where(
            sa.or_(
                tickets.c.asset_ref.is_not(None),
                tickets.c.site_ref.is_not(None),
                tickets.c.work_order_ref.is_not(None),
            )
        )
        .order_by(tickets.c.id)
    ).all()
    for row in rows:
        asset = record("assets", row.asset_ref, row.created_at)
        site = record("sites", row.site_ref, row.created_at)
        order = record("work_orders", row.work_order_ref, row.created_at)
        conn.execute(
            sa.update(tickets)
            .where(tickets.c.id == row.id)
            .values(asset_id=asset, site_id=site, work_order_id=order)
        )
        # What tickets named together: the first site seen with an asset, and so on.
        for name, row_id, column, value in (
            ("assets", asset, "site_id", site),
            ("work_orders", order, "asset_id", asset),
            ("work_orders", order, "site_id", site),
        ):
            if row_id is None or value is None or (name, row_id, column) in filled:
                continue
            filled.add((name, row_id, column))
            table = tables[name]
            conn.execute(sa.update(table).where(table.c.id == row_id).values({column: value}))


def _history_from_tickets() -> None:
    conn = op.get_bind()
    update = (
        "UPDATE resolution_records SET asset_id = "
        "(SELECT asset_id FROM tickets WHERE tickets.id = resolution_records.ticket_id) "
        "WHERE ticket_id IN (SELECT id FROM tickets WHERE asset_id IS NOT NULL)"
    )
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE resolution_records DISABLE TRIGGER resolution_records_append_only")
        op.execute(update)
        op.execute("ALTER TABLE resolution_records ENABLE TRIGGER resolution_records_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS resolution_records_no_update")
        op.execute(update)
        op.execute(
            "CREATE TRIGGER resolution_records_no_update BEFORE UPDATE ON resolution_records "
            "BEGIN SELECT RAISE(ABORT, 'switchboard: resolution_records is append-only "
            "(UPDATE refused)'); END"
        )


def downgrade() -> None:
    op.drop_index("ix_resolution_records_asset", table_name="resolution_records")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            "fk_resolution_records_asset_id_assets", "resolution_records", type_="foreignkey"
        )
        op.drop_column("resolution_records", "asset_id")
    else:  # the copy batch mode makes loses the triggers: set them again
        with op.batch_alter_table("resolution_records") as batch:
            batch.drop_column("asset_id")
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS resolution_records_no_{verb.lower()}")
            op.execute(
                f"CREATE TRIGGER resolution_records_no_{verb.lower()} BEFORE {verb} ON "
                "resolution_records BEGIN SELECT RAISE(ABORT, 'switchboard: resolution_records "
                f"is append-only ({verb} refused)'); END"
            )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("asset_ref", sa.String(120), nullable=True))
        batch.add_column(sa.Column("site_ref", sa.String(120), nullable=True))
        batch.add_column(sa.Column("work_order_ref", sa.String(120), nullable=True))
    for column, table, ref in (
        ("asset_ref", "assets", "tag"),
        ("site_ref", "sites", "code"),
        ("work_order_ref", "work_orders", "number"),
    ):
        id_column = {"assets": "asset_id", "sites": "site_id", "work_orders": "work_order_id"}[
            table
        ]
        op.execute(
            f"UPDATE tickets SET {column} = (SELECT {ref} FROM {table} "
            f"WHERE {table}.id = tickets.{id_column})"
        )
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_asset")
        batch.drop_index("ix_tickets_site")
        batch.drop_index("ix_tickets_work_order")
    drop_pointers("tickets", *TICKET_RECORDS)
    for table in ("alerts", "work_orders", "assets", "sites"):
        op.drop_table(table)
