"""Database-level guards for the append-only and immutable tables.

The ORM refuses updates and deletes of audit events and issue versions
(`storage.models`); these triggers make the database itself refuse them, so
no raw SQL path exists either. Installed by the migrations.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

GUARDED_TABLES = ("audit_events", "issue_versions")


def install(connection: Connection) -> None:
    dialect = connection.dialect.name
    for table in GUARDED_TABLES:
        if dialect == "sqlite":
            for op in ("UPDATE", "DELETE"):
                connection.execute(
                    text(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} "
                        f"BEFORE {op} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, '{table} rows are never changed'); END"
                    )
                )
        elif dialect == "postgresql":
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION countersign_refuse_change() RETURNS trigger "
                    "AS $$ BEGIN RAISE EXCEPTION '% rows are never changed', TG_TABLE_NAME; "
                    "END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()"
                )
            )


def remove(connection: Connection) -> None:
    dialect = connection.dialect.name
    for table in GUARDED_TABLES:
        if dialect == "sqlite":
            for op in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{op}"))
        elif dialect == "postgresql":
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}"))
    if dialect == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS countersign_refuse_change()"))
