"""Content-addressed storage for attachment bytes (deduplicated by SHA-256)."""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.models import StoredBlob


def put(session: Session, data: bytes) -> str:
    """Store bytes once; return their SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(StoredBlob).values(sha256=digest, size=len(data), data=data).on_conflict_do_nothing()
    )
    return digest


def get(session: Session, digest: str) -> bytes | None:
    blob = session.get(StoredBlob, digest)
    return blob.data if blob else None
