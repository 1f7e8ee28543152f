"""Alembic environment: the URL comes from ``switchboard migrate`` (settings).

The schema to compare against comes from ``config.runtime.alembic_config``, which
loads every registered channel's tables; run bare, only the core's are known.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from core.models import Base

config = context.config
target_metadata = config.attributes.get("target_metadata", Base.metadata)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    connectable = config.attributes.get("connection") or create_engine(url, poolclass=pool.NullPool)
    if hasattr(connectable, "connect") and not hasattr(connectable, "dialect_options"):
        with connectable.connect() as connection:  # type: ignore[union-attr]
            _run(connection)
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
