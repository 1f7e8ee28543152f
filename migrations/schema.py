"""What the revisions in ``versions/`` build their tables from.

Every table has the same id type, the same timestamp type and constraints named
the way ``core.models.base.NAMING`` names them; the revisions say only what is
particular to each table. A revision's tables stay as they were when it was
written: change a function here only in ways that leave the schema after every
upgrade and downgrade step exactly as it was (compare dumps of it, before and after).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = core.models.base.UTCDateTime(timezone=True)

# An index: a column name (``ix_<table>_<column>`` on that column), or its own
# name followed by the columns it covers.
IndexSpec = str | tuple[str, ...]


def big_id(name: str = "id", nullable: bool = False) -> sa.Column:
    """A column of the id type (an id of this table or of another one)."""
    return sa.Column(name, BigId, nullable=nullable)


def moment(name: str, nullable: bool = False) -> sa.Column:
    """A column holding a point in time (UTC, with its zone)."""
    return sa.Column(name, UTC, nullable=nullable)


def stamps() -> list[sa.Column]:
    """``created_at`` and ``updated_at``, both required."""
    return [moment("created_at"), moment("updated_at")]


def pointer(table: str, column: str, target: str, nullable: bool = True) -> sa.Column:
    """An id column with its foreign key to ``target.id`` declared inline."""
    return sa.Column(
        column,
        BigId,
        sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}"),
        nullable=nullable,
    )


def foreign_key(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    """The foreign key from ``table.column`` to ``target.id``, named by the convention."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def create_table(
    name: str,
    *columns: sa.Column,
    refs: Iterable[tuple[str, str]] = (),
    unique: Iterable[Sequence[str]] = (),
    key: Sequence[str] = ("id",),
    constraints: Iterable[sa.Constraint] = (),
) -> None:
    """Create a table: its columns, then its foreign keys (``(column, target table)``),
    its primary key and its unique constraints, all named by the convention, then
    any ``constraints`` named otherwise."""
    op.create_table(
        name,
        *columns,
        *(foreign_key(name, column, target) for column, target in refs),
        sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")),
        *(sa.UniqueConstraint(*cols, name=op.f(f"uq_{name}_{'_'.join(cols)}")) for cols in unique),
        *constraints,
    )


def _index(table: str, spec: IndexSpec) -> tuple[str, list[str]]:
    if isinstance(spec, str):
        return op.f(f"ix_{table}_{spec}"), [spec]
    return spec[0], list(spec[1:])


def create_indexes(table: str, *specs: IndexSpec) -> None:
    """Create the table's indexes (see ``IndexSpec``)."""
    for spec in specs:
        name, columns = _index(table, spec)
        op.create_index(name, table, columns, unique=False)


def drop_indexes(table: str, *specs: IndexSpec) -> None:
    """Drop the table's indexes, the last created first."""
    for spec in reversed(specs):
        op.drop_index(_index(table, spec)[0], table_name=table)


# Slack's seen events: 0004_slack creates the table, 0007_slack_events_inbound moves
# what it holds into inbound_records and drops it (and creates it again on downgrade).
SLACK_EVENTS_STATUS = ("ix_slack_events_status", "status")


def create_slack_events() -> None:
    create_table(
        "slack_events",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        moment("received_at"),
        moment("done_at", nullable=True),
    )
    create_indexes("slack_events", SLACK_EVENTS_STATUS)


def drop_slack_events() -> None:
    drop_indexes("slack_events", SLACK_EVENTS_STATUS)
    op.drop_table("slack_events")


def add_pointers(table: str, *pointers: tuple[str, str]) -> None:
    """Add nullable id columns to a table, each with its foreign key to ``target.id``
    (``(column, target table)``), in one batch."""
    with op.batch_alter_table(table) as batch:
        for column, target in pointers:
            batch.add_column(big_id(column, nullable=True))
            batch.create_foreign_key(
                op.f(f"fk_{table}_{column}_{target}"), target, [column], ["id"]
            )


def drop_pointers(table: str, *pointers: tuple[str, str]) -> None:
    """Drop what ``add_pointers`` added."""
    with op.batch_alter_table(table) as batch:
        for column, target in pointers:
            batch.drop_constraint(op.f(f"fk_{table}_{column}_{target}"), type_="foreignkey")
            batch.drop_column(column)
