"""Engine and transactions for SQLite (embedded) and PostgreSQL (scaled).

``Database.transaction()`` is the only way core code writes: one transaction per
core action, with callbacks that run only after the commit succeeded (used to
hand outbox rows and inbound records to the workers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.dispatch import DispatchUnavailable
from core.health import DOWN, UP, Health

log = logging.getLogger(__name__)

DATABASE = "database"  # its part name in ``core.health``

AFTER_COMMIT = "switchboard_after_commit"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and immediate write transactions."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (pysqlite's own handling defers it).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before it returns, so what the front door answered
            # 250 for (and an acknowledgement marked sent) survives a power loss or an OS
            # crash; NORMAL in WAL mode only survives the process crashing.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock up front, so two writers never deadlock on the
            # upgrade from a read lock; readers use a plain BEGIN and run beside them.
            if conn.get_execution_options().get("switchboard_read"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class WriteLock:
    """A reentrant lock whose preferred threads go first: while one of them waits, the
    others wait behind it (the front door's writer, whose commit a client is waiting
    for, is not queued behind a batch of workers' transactions)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.owner: int | None = None
        self.depth = 0
        self.preferred: set[int] = set()
        self.preferred_waiting = 0

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        first = me in self.preferred
        with self.changed:
            if self.owner == me:
                self.depth += 1
                return True
            self.preferred_waiting += first
            try:
                free = self.changed.wait_for(
                    lambda: self.owner is None and (first or not self.preferred_waiting), timeout
                )
            finally:
                self.preferred_waiting -= first
            if not free:
                return False
            self.owner, self.depth = me, 1
            return True

    def preferred_is_waiting(self) -> bool:
        """A preferred thread (the front door) waits for the lock now."""
        return self.preferred_waiting > 0

    def release(self) -> None:
        with self.changed:
            self.depth -= 1
            if self.depth == 0:
                self.owner = None
                self.changed.notify_all()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(switchboard_read=True), expire_on_commit=False
        )
        # SQLite has one writer at a time. Threads of this process queue for it here,
        # and are woken the moment it is free, instead of in SQLite's busy handler,
        # which polls with sleeps of up to 100 ms. Other processes still meet the
        # busy timeout. Reentrant: a nested transaction in one thread behaves as before.
        self.write_lock: WriteLock | None = (
            WriteLock() if self.engine.dialect.name == "sqlite" else None
        )

    def prefer_this_thread(self) -> None:
        """This thread's write transactions go before other threads' waiting ones (SQLite)."""
        if self.write_lock is not None:
            self.write_lock.preferred.add(threading.get_ident())

    def writer_waiting(self) -> bool:
        """On SQLite: the front door waits to write (a long transaction should commit and
        let it). Always False on PostgreSQL, where writers do not wait for each other."""
        return self.write_lock is not None and self.write_lock.preferred_is_waiting()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a block in one transaction; after-commit callbacks run once it is durable."""
        session = self.sessions()
        # Past the busy timeout, go on without the lock: SQLite then decides, as before.
        locked = self.write_lock is not None and self.write_lock.acquire(timeout=30)
        try:
            with session.begin():
                yield session
            callbacks: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT, [])
        finally:
            session.close()
            if locked:
                self.write_lock.release()  # type: ignore[union-attr]
        for callback in callbacks:
            try:
                callback()
            except DispatchUnavailable:  # in health, logged once; the sweep hands it over
                pass
            except Exception:  # the rows are committed; the sweep will pick them up
                log.exception("after-commit callback failed; the clock's sweep will retry it")

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only."""
        session = self.read_sessions()
        try:
            yield session
        finally:
            session.close()  # ends the transaction; loaded objects stay readable

    def dispose(self) -> None:
        self.engine.dispose()

    def watch(self, health: Health) -> None:
        """Report the database up in ``health`` as soon as a connection is handed out
        again after an outage (a checkout follows a successful pre-ping)."""

        @event.listens_for(self.engine, "checkout")
        def _checked_out(*_: Any) -> None:
            part = health.get(DATABASE)
            if part is not None and part.state != UP:
                health.up(DATABASE)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, network),
    rather than that a statement was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        text = str(exc.orig if isinstance(exc, DBAPIError) else exc).lower()
        return not any(word in text for word in ("deadlock", "locked", "serializ", "syntax"))
    return False


def report_outage(health: Health, exc: BaseException) -> bool:
    """If ``exc`` is the database being unreachable, mark it down in ``health`` (logged
    once per outage, not once per request) and return True; else False, for the caller
    to handle (and log) as the bug it is."""
    if not is_outage(exc):
        return False
    health.set(DATABASE, DOWN, "unreachable")
    return True


CACHES = "switchboard_transaction_caches"


def transaction_cache(session: Session, name: str) -> dict[Any, Any]:
    """A dict that lives as long as the session's current transaction: for rows this
    transaction has locked or looked up once (audit chain heads, agents), so a batch
    does not query them again. Forgotten when the transaction ends, whichever way."""
    caches: dict[str, dict[Any, Any]] = session.info.setdefault(CACHES, {})
    return caches.setdefault(name, {})


@event.listens_for(Session, "after_transaction_end")
def _forget_caches(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(CACHES, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_caches_after_rollback(session: Session, previous_transaction: Any) -> None:
    # A savepoint rolled back: what it locked or loaded may be gone (on PostgreSQL its
    # row locks too), so look everything up again.
    session.info.pop(CACHES, None)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after the session's transaction commits (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def hand_over_again(
    session: Session,
    model: Any,
    *overdue: ColumnElement[bool],
    now: Any,
    limit: int,
    after_id: int,
) -> list[int]:
    """Ids of ``model`` rows (inbound records, deliveries) that are ``overdue`` for the
    workers, after ``after_id`` in id order, at most ``limit``; marked as handed over
    again at ``now`` (their ``enqueued_at``), so the next sweep waits for them."""
    ids = list(
        session.execute(
            select(model.id).where(model.id > after_id, *overdue).order_by(model.id).limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
