"""The one way to reach the database: `connect(url)` gives an engine tuned for
its backend and the session factory bound to it.

SQLite (the embedded default) runs with WAL, foreign keys on and a busy
timeout, so the bot, the scheduler and CLI commands can share one file.
PostgreSQL needs nothing special.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads: on SQLite its transaction begins DEFERRED, not
        IMMEDIATE, so it neither waits for a writer nor holds one up (WAL gives it a
        consistent snapshot of its own). Rolled back at the end."""
        with self.sessions() as session:
            session.connection(execution_options={_READING: True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # Python's sqlite3 opens transactions lazily and only for DML; we let
    # SQLAlchemy issue BEGIN so that every transaction, reads included, is real.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_READING = "countersign_reading"  # an execution option: `Database.reading()`


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock at the start, so two writers queue on the
    # busy timeout instead of failing halfway with "database is locked". A
    # reader needs no lock: a deferred transaction reads a snapshot.
    reading = conn.get_execution_options().get(_READING, False)
    conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def connect(url: str, **kwargs: Any) -> Database:
    engine = create_db_engine(url, **kwargs)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
