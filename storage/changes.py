"""Stamps on every change to personal data, so that preflight's index never
misses one (`bot.preflight.personal_data.PersonalDataCache`).

Each row of `subscribers` and `unsubscribe_requests` carries `change_seq`, set
by the database itself whenever the row is inserted or one of its personal
fields changes (a trigger, so no writer can forget it); deletions count in
`personal_data_changes.removals`. A reader asks `horizon()` for a value such
that every change it has not yet seen is stamped at or above it, and reads
`change_seq >= horizon` next time. A writer can never overtake it:

- SQLite runs one writer at a time: each stamp is the next value of
  `personal_data_changes.changes`, and the horizon is the counter plus one,
  read in the reader's own (consistent) transaction.
- PostgreSQL stamps a row with its transaction's id, and the horizon is the
  oldest transaction still running when the reader looked (its snapshot's
  xmin): a transaction that commits later, however early it began, has an id
  at or above it. Writers never wait for each other.

Installed by the migrations; `storage.models` declares the columns.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# table -> its personal fields
WATCHED: dict[str, tuple[str, ...]] = {
    "subscribers": ("email", "name", "company"),
    "unsubscribe_requests": ("email", "given_name", "given_company", "note"),
}
_BUMP_SQLITE = (
    "INSERT INTO personal_data_changes (id, changes, removals) VALUES (1, 1, {removed}) "
    "ON CONFLICT (id) DO UPDATE SET changes = changes + 1, removals = removals + {removed}"
)


def install(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        _install_sqlite(connection)
    elif connection.dialect.name == "postgresql":
        _install_postgresql(connection)


def _install_sqlite(connection: Connection) -> None:
    for table, fields in WATCHED.items():
        counter = "(SELECT changes FROM personal_data_changes WHERE id = 1)"
        stamp = f"UPDATE {table} SET change_seq = {counter} WHERE rowid = NEW.rowid"  # noqa: S608
        for name, event in (
            ("insert", "INSERT"),
            ("update", f"UPDATE OF {', '.join(fields)}"),
        ):
            connection.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_changes_{name} AFTER {event} "
                    f"ON {table} BEGIN {_BUMP_SQLITE.format(removed=0)}; {stamp}; END"
                )
            )
        connection.execute(
            text(
                f"CREATE TRIGGER IF NOT EXISTS {table}_changes_delete AFTER DELETE ON {table} "
                f"BEGIN {_BUMP_SQLITE.format(removed=1)}; END"
            )
        )


def _install_postgresql(connection: Connection) -> None:
    connection.execute(
        text(
            "CREATE OR REPLACE FUNCTION countersign_stamp_change() RETURNS trigger AS $$ "
            "BEGIN NEW.change_seq := pg_current_xact_id()::text::bigint; RETURN NEW; END "
            "$$ LANGUAGE plpgsql"
        )
    )
    connection.execute(
        text(
            "CREATE OR REPLACE FUNCTION countersign_count_removal() RETURNS trigger AS $$ "
            "BEGIN INSERT INTO personal_data_changes (id, changes, removals) VALUES (1, 0, 1) "
            "ON CONFLICT (id) DO UPDATE SET removals = personal_data_changes.removals + 1; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
    )
    for table, fields in WATCHED.items():
        connection.execute(
            text(
                f"CREATE TRIGGER {table}_changes BEFORE INSERT OR UPDATE OF "
                f"{', '.join(fields)} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION countersign_stamp_change()"
            )
        )
        connection.execute(
            text(
                f"CREATE TRIGGER {table}_removals AFTER DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION countersign_count_removal()"
            )
        )


def remove(connection: Connection) -> None:
    for table in WATCHED:
        if connection.dialect.name == "sqlite":
            for name in ("insert", "update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_changes_{name}"))
        elif connection.dialect.name == "postgresql":
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}"))
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_removals ON {table}"))
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS countersign_stamp_change()"))
        connection.execute(text("DROP FUNCTION IF EXISTS countersign_count_removal()"))


def horizon(connection: Connection) -> tuple[int, int]:
    """(horizon, removals): every change not yet seen by a reader that looked
    before is stamped at or above `horizon`; `removals` counts deleted rows."""
    row = connection.execute(
        text("SELECT changes, removals FROM personal_data_changes WHERE id = 1")
    ).first()
    counted, removals = (int(row[0]), int(row[1])) if row else (0, 0)
    if connection.dialect.name == "postgresql":
        xmin = connection.execute(
            text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        ).scalar_one()
        return int(xmin), removals
    return counted + 1, removals
