"""Alembic migrations; run them with ``switchboard migrate``."""
