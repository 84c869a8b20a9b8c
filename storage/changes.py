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

A bulk write (an import's INSERT ... SELECT of a million rows) stamps its
rows itself with `bulk_stamp()` instead of paying a trigger per row: the
trigger leaves a row alone only when the row already carries a stamp that no
reader has passed (above the SQLite counter; at or above the PostgreSQL
transaction's own id), and restamps every other one. So a writer can skip
the trigger only by writing the stamp the trigger would have written or a
later one; a stale or zero stamp (every ordinary write) is always replaced.

Installed by the migrations (0006; 0008 added the bulk stamps, `install(bulk=…)`);
`storage.models` declares the columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


_COUNTER_SQLITE = "(SELECT changes FROM personal_data_changes WHERE id = 1)"
_XACT_POSTGRESQL = "pg_current_xact_id()::text::bigint"


def install(connection: Connection, *, bulk: bool = True) -> None:
    """The stamping triggers. `bulk=False` gives migration 0006's, which
    restamp every inserted row, whatever stamp it carries."""
    if connection.dialect.name == "sqlite":
        _install_sqlite(connection, bulk)
    elif connection.dialect.name == "postgresql":
        _install_postgresql(connection, bulk)


def _install_sqlite(connection: Connection, bulk: bool) -> None:
    # A stamp above the counter is one that no reader's horizon has passed.
    stale = f"WHEN NEW.change_seq <= coalesce({_COUNTER_SQLITE}, 0) " if bulk else ""
    for table, fields in WATCHED.items():
        stamp = f"UPDATE {table} SET change_seq = {_COUNTER_SQLITE} WHERE rowid = NEW.rowid"  # noqa: S608
        for name, event in (
            ("insert", "INSERT"),
            ("update", f"UPDATE OF {', '.join(fields)}"),
        ):
            connection.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_changes_{name} AFTER {event} "
                    f"ON {table} {stale}BEGIN {_BUMP_SQLITE.format(removed=0)}; {stamp}; END"
                )
            )
        connection.execute(
            text(
                f"CREATE TRIGGER IF NOT EXISTS {table}_changes_delete AFTER DELETE ON {table} "
                f"BEGIN {_BUMP_SQLITE.format(removed=1)}; END"
            )
        )


def _install_postgresql(connection: Connection, bulk: bool) -> None:
    connection.execute(
        text(
            "CREATE OR REPLACE FUNCTION countersign_stamp_change() RETURNS trigger AS $$ "
            f"BEGIN NEW.change_seq := {_XACT_POSTGRESQL}; RETURN NEW; END "
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
    # A stamp at or above the transaction's own id is one no reader's horizon has passed.
    stale = f"WHEN (NEW.change_seq < {_XACT_POSTGRESQL}) " if bulk else ""
    for table, fields in WATCHED.items():
        connection.execute(
            text(
                f"CREATE TRIGGER {table}_changes BEFORE INSERT OR UPDATE OF "
                f"{', '.join(fields)} ON {table} "
                f"FOR EACH ROW {stale}EXECUTE FUNCTION countersign_stamp_change()"
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


def unread_stamp(connection: Connection) -> int:
    """The lowest stamp that no reader's horizon has passed, for a row written
    now in this transaction: a row stamped with it (or higher) is read at
    every reader's next refresh, and the triggers leave it alone; a row
    written with a lower stamp is restamped."""
    if connection.dialect.name == "postgresql":
        return int(connection.execute(text(f"SELECT {_XACT_POSTGRESQL}")).scalar_one())
    counted = connection.execute(text(_COUNTER_SQLITE.strip("()"))).scalar()
    return int(counted or 0) + 1


@contextmanager
def bulk_stamp(connection: Connection) -> Iterator[int]:
    """The stamp for rows that one transaction writes in bulk, stamping them
    itself (`change_seq` in its INSERT ... SELECT), with no trigger per row:
    `unread_stamp()`. On PostgreSQL that is the transaction's own id, exactly
    what the trigger writes; on SQLite one above the counter, and the counter
    is raised to it when the block ends (one bump for the whole import, in the
    same transaction), so that later readers do not read these rows again."""
    stamp = unread_stamp(connection)
    yield stamp
    if connection.dialect.name != "postgresql":
        connection.execute(
            text(
                "INSERT INTO personal_data_changes (id, changes, removals) "
                "VALUES (1, :stamp, 0) "
                "ON CONFLICT (id) DO UPDATE SET changes = max(changes, excluded.changes)"
            ),
            {"stamp": stamp},
        )


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
