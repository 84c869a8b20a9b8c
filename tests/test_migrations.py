"""Migrations build the models' schema from nothing, and come down again.

Runs on SQLite and on PostgreSQL (where `database_url` is a per-worker database
shared by the tests: every test here leaves it migrated to head).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import changes, guards, migrate
from storage.db import create_db_engine
from storage.models import Base


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    try:
        yield engine
    finally:
        migrate.upgrade(engine)  # whatever happened: leave the database at head
        engine.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def guard_triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return set(connection.execute(text(query)).scalars())


def expected_triggers(engine: Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        return {f"{t}_no_{op}" for t in guards.GUARDED_TABLES for op in ("update", "delete")}
    return {f"{t}_no_change" for t in guards.GUARDED_TABLES}


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(engine: Engine):
    model_tables = set(Base.metadata.tables)
    assert migrate.current_revision(engine) == migrate.head_revision()

    migrate.downgrade(engine, "base")
    assert tables(engine) == {"alembic_version"}
    assert migrate.current_revision(engine) is None
    assert guard_triggers(engine) == set()

    migrate.upgrade(engine)
    assert tables(engine) == model_tables | {"alembic_version"}
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert schema_differences(engine) == []
    assert guard_triggers(engine) >= expected_triggers(engine)


def test_upgrade_of_a_brand_new_database(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert tables(engine) == set()
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine):
    assert schema_differences(engine) == []


def test_guards_refuse_raw_changes_after_upgrade(engine: Engine):
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    assert guard_triggers(engine) >= expected_triggers(engine)
    at = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (at, actor, action, subject, detail) "
                "VALUES (:at, 'U1', 'test', '', '{}')"
            ),
            {"at": at},
        )
    for sql in ("UPDATE audit_events SET action = 'rewritten'", "DELETE FROM audit_events"):
        with pytest.raises((IntegrityError, DBAPIError)), engine.begin() as connection:
            connection.execute(text(sql))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT action FROM audit_events")).scalars().all() == [
            "test"
        ]
    # Leave the shared database as the fixtures expect it: empty and at head.
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)


def stored_stamp(engine: Engine, email: str, offset: int) -> tuple[int, int]:
    """Insert a subscriber that carries `unread_stamp() + offset` itself;
    return (the stamp it was given, the stamp it was stored with)."""
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:
        list_id = connection.execute(
            text("SELECT id FROM lists WHERE name = 'Newsletter'")
        ).scalar()
        if list_id is None:
            list_id = connection.execute(
                text(
                    "INSERT INTO lists (name, created_at) VALUES ('Newsletter', :now) RETURNING id"
                ),
                {"now": now},
            ).scalar_one()
        given = changes.unread_stamp(connection) + offset
        connection.execute(
            text(
                "INSERT INTO subscribers (list_id, email, name, company, status, created_at, "
                "updated_at, change_seq) VALUES (:list_id, :email, '', '', 'active', :now, :now, "
                ":stamp)"
            ),
            {"list_id": list_id, "email": email, "now": now, "stamp": given},
        )
        stored = connection.execute(
            text("SELECT change_seq FROM subscribers WHERE email = :email"), {"email": email}
        ).scalar_one()
    return given, stored


def test_bulk_stamps_come_with_0008_and_go_with_its_downgrade(engine: Engine):
    """0006's triggers restamp every inserted row; from 0008 on a row that
    carries a stamp no reader has passed keeps it (an import's own), and a
    stale one is still restamped; downgraded, every row is restamped again."""
    migrate.downgrade(engine, "0007_import_requests")
    given, stored = stored_stamp(engine, "a@example.com", 5)
    assert stored == given - 5  # restamped by the trigger, as 0006 made it
    migrate.upgrade(engine)
    given, stored = stored_stamp(engine, "b@example.com", 5)
    assert stored == given  # kept
    given, stored = stored_stamp(engine, "c@example.com", -1)
    assert stored == given + 1  # stale: restamped
    migrate.downgrade(engine, "0007_import_requests")
    given, stored = stored_stamp(engine, "d@example.com", 5)
    assert stored == given - 5
    migrate.upgrade(engine)
    assert schema_differences(engine) == []
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM subscribers"))
        connection.execute(text("DELETE FROM lists"))


def test_sqlite_engine_is_configured(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()
