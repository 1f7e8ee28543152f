"""Upgrading a database that already holds tickets keeps who wrote what, and where
replies go, exactly as before (the contact-links migration's backfill)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.runtime import alembic_config
from core import agents
from core.tickets import search
from core.tokens import hash_token
from tests.services import POSTGRES_URL, need, postgres_database

BEFORE = "0009_mail_loops"


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    need("PostgreSQL", POSTGRES_URL, 5432)
    url, drop = postgres_database(f"sbmig_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    yield url
    drop()


def test_tickets_and_messages_from_before_know_their_requester_and_author_identity(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, BEFORE)
    engine = create_engine(empty_database)
    now = "2026-11-20 09:00:00"
    with engine.begin() as conn:
        for n, (kind, address) in enumerate([("email", "dana@x.example"), ("fake", "c-9")], 1):
            conn.execute(
                text("INSERT INTO contacts (id, name, created_at) VALUES (:n, :name, :t)"),
                {"n": n, "name": f"client {n}", "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO identities (id, contact_id, kind, address, display, created_at)"
                    " VALUES (:n, :n, :kind, :address, '', :t)"
                ),
                {"n": n, "kind": kind, "address": address, "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO tickets (id, subject, status, priority, priority_reason,"
                    " contact_id, channel, reply_identity_id, tracking_token, escalated,"
                    " created_at, updated_at)"
                    " VALUES (:n, 's', 'new', 'P3', '', :n, :kind, :n, :tok, false, :t, :t)"
                ),
                {"n": n, "kind": kind, "tok": f"tok-{n}", "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO messages (id, ticket_id, kind, direction, channel,"
                    " author_contact_id, body_text, created_at)"
                    " VALUES (:m, :n, 'public', 'in', :kind, :n, 'hello', :t)"
                ),
                {"m": 10 + n, "n": n, "kind": kind, "t": now},
            )
        conn.execute(
            text(
                "INSERT INTO messages (id, ticket_id, kind, direction, channel, body_text,"
                " created_at) VALUES (20, 1, 'public', 'out', 'email', 'an answer', :t)"
            ),
            {"t": now},
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        tickets = conn.execute(
            text("SELECT id, requester_identity_id FROM tickets ORDER BY id")
        ).all()
        messages = conn.execute(
            text("SELECT id, author_identity_id FROM messages ORDER BY id")
        ).all()
        merged = conn.execute(text("SELECT merged_into_id FROM contacts")).scalars().all()
    engine.dispose()
    assert [tuple(t) for t in tickets] == [(1, 1), (2, 2)]
    assert [tuple(m) for m in messages] == [(11, 1), (12, 2), (20, None)]
    assert merged == [None, None]


def test_an_agents_token_and_the_words_stored_before_0012_still_work(
    empty_database: str,
) -> None:
    # Given a database at 0011 with an agent's token and a ticket whose message says E42
    config = alembic_config(empty_database)
    command.upgrade(config, "0011_assets")
    engine = create_engine(empty_database)
    now = "2026-11-20 09:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agents (id, name, email, roles, api_token_hash, preferences, active,"
                " created_at) VALUES (1, 'Ana', 'ana@x.example', '[\"agent\"]', :h, '{}', true, :t)"
            ),
            {"h": hash_token("sbt_old-token"), "t": now},
        )
        conn.execute(
            text("INSERT INTO contacts (id, name, created_at) VALUES (1, 'Marta Kowalska', :t)"),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO tickets (id, subject, status, priority, priority_reason,"
                " contact_id, channel, tracking_token, escalated, created_at, updated_at)"
                " VALUES (1, 'Press 3', 'new', 'P3', '', 1, 'fake', 'tok-1', false, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO messages (id, ticket_id, kind, direction, channel, body_text,"
                " created_at) VALUES (1, 1, 'public', 'in', 'fake', 'Stopped: error E42.', :t)"
            ),
            {"t": now},
        )
    # When it is upgraded
    command.upgrade(config, "head")
    # Then the token still works, and the stored words are found
    with Session(engine) as session:
        agent = agents.authenticate(session, "sbt_old-token")
        assert agent is not None and agent.name == "Ana"
        assert agents.authenticate(session, "sbt_other") is None
        for q in ("E42", "kowalska", "press"):
            found = search.matching(session, q)
            assert found is not None
            assert list(session.execute(found).scalars()) == [1], q
    engine.dispose()


def test_mail_stored_under_its_digest_before_0021_is_known_by_it_after(
    empty_database: str,
) -> None:
    # Given a database at 0020 holding a mail stored without a Message-ID (under the
    # digest of what its sender wrote), one stored under its Message-ID, and a payload
    # of another channel whose id merely looks like a digest
    config = alembic_config(empty_database)
    command.upgrade(config, "0020_files")
    engine = create_engine(empty_database)
    digest = "written:" + "ab" * 32
    with engine.begin() as conn:
        for n, (channel, external_id) in enumerate(
            [("email", digest), ("email", "<a1@client.example>"), ("fake", "written:x")], 1
        ):
            conn.execute(
                text(
                    "INSERT INTO inbound_records (id, channel, transport, external_id, raw, meta,"
                    " status, rules_fired, attempts, received_at) VALUES (:n, :channel, '',"
                    " :external_id, :raw, '{}', 'done', '[]', 0, '2026-11-20 09:00:00')"
                ),
                {"n": n, "channel": channel, "external_id": external_id, "raw": b"x"},
            )
    # When it is upgraded
    command.upgrade(config, "head")
    # Then the first is known by its digest as its written key, and a relayed copy of
    # it under a relay's Message-ID is refused; the others have no written key
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT id, written_key FROM inbound_records ORDER BY id")).all()
    assert [tuple(k) for k in keys] == [(1, digest), (2, None), (3, None)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inbound_records (id, channel, transport, external_id, written_key,"
                " raw, meta, status, rules_fired, attempts, received_at) VALUES (4, 'email', '',"
                " '<q9@relay.example>', :key, :raw, '{}', 'pending', '[]', 0,"
                " '2026-11-20 09:00:00')"
            ),
            {"key": digest, "raw": b"x"},
        )
    engine.dispose()
