"""Subscriber lists: import from CSV, export to CSV, counts.

An import a list owner can trust:
- streamed in chunks into a temporary staging table, so memory stays flat
  however long the file is; the merge into the list is then set-based SQL
  (see `_Staging`), which is what makes a million rows take seconds;
- one transaction: a file that turns out unreadable halfway changes nothing;
- addresses validated (syntax only) and normalised (`bot.addresses`);
- an address that appears twice in a file is one subscriber: the first row
  wins, later rows only fill fields the first left empty; nothing, audit
  events included, depends on where chunks end;
- an empty field never erases a known name or company;
- a suppressed or unsubscribed address is never resubscribed: it is skipped;
- each rejected row is reported with its line number and reason;
- importing the same file again changes nothing;
- every change is an audit event (addresses by hash, see `bot.audit`).
"""

from __future__ import annotations

import csv
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement

from bot import audit, csvfile, import_reader
from bot.addresses import address_hasher
from bot.clock import Clock
from bot.csvfile import UnreadableFile, open_bytes, open_text
from bot.import_formats import DO_NOT_MAIL, NOTE_LIMIT, SUBSCRIBE, parse_columns
from bot.import_reader import FIELD_LIMIT, REJECTED, ImportFailed, Row, Source, pipelined
from bot.installation import address_salt
from bot.suppressions import STATUS_FOR_REASON
from storage import changes
from storage.db import Database
from storage.models import (
    ALL_LISTS,
    AuditEvent,
    MailingList,
    PushState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionOrigin,
)

__all__ = [
    "FIELD_LIMIT",
    "ImportFailed",
    "ImportOptions",
    "ImportReport",
    "RejectedRow",
    "UnreadableFile",
    "counts_by_status",
    "export_csv",
    "get_or_create_list",
    "import_bytes",
    "import_csv",
]
COLUMNS = ("email", "name", "company")
CHUNK = 5_000
REJECTED_KEPT = 1_000  # reasons kept for the report; the count is always exact
SAMPLE = 5  # first rows of each kind shown by a dry run

_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_SUPPRESSIONS = cast(Table, Suppression.__table__)
_AUDIT_EVENTS = cast(Table, AuditEvent.__table__)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, row by row: every row read is counted exactly once,
    as added, updated, unchanged (its address's first row in the file), merged
    (a later row for an address already met in the file), skipped as
    suppressed/unsubscribed, skipped as not mailed in the old system
    (`passed`: listmonk's disabled), suppressed (a do-not-mail row that
    recorded a new suppression), already suppressed, or rejected. `added` and
    `updated` equal the `subscriber.added` and `subscriber.updated` audit
    events, `suppressed` the `suppression.added` ones; a merged row that fills
    an empty field of a stored subscriber is audited as `subscriber.merged`.
    `stopped` counts stored subscribers whose status a do-not-mail row changed.
    `samples` holds the first rows (line, address) of each kind."""

    list_name: str
    file_format: str = ""
    encoding: str = ""
    dry_run: bool = False
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    skipped_suppressed: int = 0
    passed: int = 0
    suppressed: int = 0
    already_suppressed: int = 0
    stopped: int = 0
    rejected_count: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    samples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REJECTED_KEPT:
            self.rejected.append(RejectedRow(line, reason))

    def sample(self, kind: str, line: int, email: str) -> None:
        kept = self.samples.setdefault(kind, [])
        if len(kept) < SAMPLE:
            kept.append((line, email))


def get_or_create_list(session: Session, name: str, now: datetime) -> MailingList:
    found = session.execute(
        select(MailingList).where(MailingList.name == name)
    ).scalar_one_or_none()
    if found is None:
        found = MailingList(name=name, created_at=now)
        session.add(found)
        session.flush()
    return found


@dataclass(frozen=True)
class ImportOptions:
    """How to read a file: its encoding (None: detected), `--columns`, and
    whether every row is a do-not-mail row (`suppressions import`)."""

    encoding: str | None = None
    columns: str | None = None
    do_not_mail: bool = False
    dry_run: bool = False


def import_csv(
    db: Database,
    path: Path,
    *,
    list_name: str,
    actor: str,
    clock: Clock,
    chunk: int = CHUNK,
    options: ImportOptions = ImportOptions(),
    pipeline: bool | None = None,
) -> ImportReport:
    """Import `path` into `list_name`. Raises UnreadableFile or ImportFailed
    (nothing changed). The file is read in a second process (`pipeline`) when
    that pays: `bot.import_reader.worth_a_second_process`."""
    opened = open_text(path, options.encoding)
    with opened.text:
        if pipeline is None:
            pipeline = import_reader.worth_a_second_process(path.stat().st_size)
        return _import_stream(
            db,
            opened,
            str(path),
            list_name=list_name,
            actor=actor,
            clock=clock,
            chunk=chunk,
            options=options,
            path=path if pipeline else None,
        )


def import_bytes(
    db: Database,
    content: bytes,
    label: str,
    *,
    list_name: str,
    actor: str,
    clock: Clock,
    options: ImportOptions = ImportOptions(),
) -> ImportReport:
    """The same for a file that arrived as bytes (a Slack upload named `label`)."""
    opened = open_bytes(content, label, options.encoding)
    with opened.text:
        return _import_stream(
            db,
            opened,
            label,
            list_name=list_name,
            actor=actor,
            clock=clock,
            chunk=CHUNK,
            options=options,
        )


class _DryRun(Exception):
    """Raised inside the import's transaction to roll all of it back."""


def _import_stream(
    db: Database,
    opened: csvfile.Opened,
    label: str,
    *,
    list_name: str,
    actor: str,
    clock: Clock,
    chunk: int,
    options: ImportOptions,
    path: Path | None = None,
) -> ImportReport:
    """Import the rows of `opened`; read in a second process from `path` if given."""
    now = clock.now()
    report = ImportReport(list_name=list_name, encoding=opened.encoding, dry_run=options.dry_run)
    source = Source(opened, label)
    columns = parse_columns(options.columns) if options.columns else None
    try:
        with db.transaction() as session:
            form = source.header(columns, options.do_not_mail)
            report.file_format = form.label
            mailing_list = get_or_create_list(session, list_name, now)
            salt = address_salt(session)
            staging = _Staging(session)
            if path is None:
                rows = source.rows()
            else:
                rows = pipelined(path, opened, label, columns, options.do_not_mail)
            for subscribe, stops in _chunks(rows, report, salt, chunk):
                staging.load(subscribe)
                staging.load_stops(stops)
            # Only now, with the whole file read without error, is anything merged.
            _Merge(session, staging, mailing_list, actor, now).run(report)
            staging.drop()
            audit.record(
                session,
                actor=actor,
                action="suppressions.imported" if options.do_not_mail else "subscribers.imported",
                at=now,
                subject=f"list:{list_name}",
                file=Path(label).name,
                format=form.label,
                rows=report.rows,
                added=report.added,
                updated=report.updated,
                merged=report.merged,
                skipped_suppressed=report.skipped_suppressed,
                passed=report.passed,
                suppressed=report.suppressed,
                stopped=report.stopped,
                rejected=report.rejected_count,
            )
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except (UnicodeDecodeError, csv.Error) as exc:
        raise source.unreadable(exc) from exc
    return report


class _BulkWrite:
    """An executemany of one INSERT or UPDATE over many rows that differ in a few values.

    The SQL is SQLAlchemy's own for the dialect, and each value goes through
    its column type's own bind processor (datetimes, JSON) exactly as with
    `connection.execute(statement, rows)`; but the constant values are
    converted once per import instead of once per row, and SQLAlchemy's
    per-row bookkeeping is skipped. On a million-row file that is most of
    the import's cost. `types` gives each bound value's column type by its
    key; an INSERT binds the columns `varying` and `constants` name.
    """

    def __init__(
        self,
        session: Session,
        statement: Any,
        types: dict[str, Any],
        varying: tuple[str, ...],
        constants: dict[str, Any] | None = None,
    ) -> None:
        constants = constants or {}
        self.session = session
        dialect = session.connection().dialect
        keys = [*varying, *constants]
        compiled = (
            statement.compile(dialect=dialect, column_keys=keys)
            if isinstance(statement, Insert)
            else statement.compile(dialect=dialect)
        )
        self.sql = compiled.string

        def converter(key: str) -> Any:
            return types[key].dialect_impl(dialect).bind_processor(dialect)

        converters = [converter(key) for key in varying]
        fixed = {}
        for key, value in constants.items():
            convert = converter(key)
            fixed[key] = convert(value) if convert is not None else value
        self.varying = varying
        self.fixed = fixed
        # Positional drivers (sqlite3: qmark) take tuples in the statement's order.
        self.order = list(compiled.positiontup or ()) if compiled.positional else None
        # Rows already in the statement's own order go to the driver as they are;
        # others are put in its order, constants added, by one itemgetter per row.
        self.direct = not fixed and self.order == list(varying)
        self.fixed_values = tuple(fixed.values())
        self.pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        if self.order is not None and not self.direct:
            given = [*varying, *fixed]
            where = [given.index(key) for key in self.order]
            getter = operator.itemgetter(*where)
            self.pick = getter if len(where) > 1 else lambda row: (getter(row),)
        self.converting = [(i, c) for i, c in enumerate(converters) if c is not None]

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.converting:
            rows = [self._converted(row) for row in rows]
        params: list[Any]
        if self.direct:
            params = rows
        elif self.pick is not None:
            pick, fixed = self.pick, self.fixed_values
            params = [pick((*row, *fixed)) for row in rows]
        else:
            params = [{**self.fixed, **dict(zip(self.varying, row, strict=True))} for row in rows]
        self.session.connection().exec_driver_sql(self.sql, params)

    def _converted(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i, convert in self.converting:
            values[i] = convert(values[i])
        return tuple(values)


def _bulk_insert(
    session: Session,
    table: Table,
    varying: tuple[str, ...],
    constants: dict[str, Any] | None = None,
) -> _BulkWrite:
    """An INSERT into `table` of rows of `varying` columns, the `constants` in each."""
    return _BulkWrite(session, insert(table), {c.key: c.type for c in table.c}, varying, constants)


Staged = tuple[int, str, str, str, str]  # line, email, email_hash, name, company
Stop = tuple[int, str, str, str, str]  # line, email, email_hash, reason, note


def _chunks(
    rows: Iterable[Row], report: ImportReport, salt: bytes, size: int
) -> Iterator[tuple[list[Staged], list[Stop]]]:
    """The file's rows (`bot.import_reader`) counted, rejected rows reported
    with their line number, the others hashed and sorted, `size` at a time:
    rows to subscribe and do-not-mail rows; rows not mailed in the old system
    are only counted."""
    hash_of = address_hasher(salt)
    subscribe: list[Staged] = []
    stops: list[Stop] = []
    # A chunk's duplicate addresses are hashed once.
    hashes: dict[str, str] = {}
    for line, kind, email, name, company, reason, note in rows:
        report.rows += 1
        if kind == REJECTED:
            report.reject(line, email)
            continue
        email_hash = hashes.get(email)
        if email_hash is None:
            email_hash = hashes[email] = hash_of(email)
        if kind == SUBSCRIBE:
            subscribe.append((line, email, email_hash, name, company))
        elif kind == DO_NOT_MAIL:
            stops.append((line, email, email_hash, reason, note))
        else:
            report.passed += 1
            report.sample("skipped", line, email)
        if len(subscribe) + len(stops) >= size:
            yield subscribe, stops
            subscribe, stops = [], []
            hashes = {}
    if subscribe or stops:
        yield subscribe, stops


class _json_object(FunctionElement[Any]):
    """A JSON object built in SQL from key, value, key, value...: SQLite's
    `json_object`, PostgreSQL's `json_build_object`."""

    type = JSON()
    name = "json_object"
    inherit_cache = True


@compiles(_json_object)
def _json_object_sql(element: _json_object, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(_json_object, "postgresql")
def _json_build_object_sql(element: _json_object, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


class _json_array(FunctionElement[Any]):
    """A JSON array built in SQL: SQLite's `json_array`, PostgreSQL's `json_build_array`."""

    type = JSON()
    name = "json_array"
    inherit_cache = True


@compiles(_json_array)
def _json_array_sql(element: _json_array, compiler: Any, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


@compiles(_json_array, "postgresql")
def _json_build_array_sql(element: _json_array, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({compiler.process(element.clauses, **kw)})"


# What the import does with an address, decided once for all its rows.
NEW, OLD, SKIP = "n", "o", "s"  # add it; merge into the stored subscriber; leave it alone
PAGE = 2_000  # stored subscribers whose fields may change, read this many at a time


class _Staging:
    """The file's valid rows in a temporary table, then merged in SQL.

    `import_rows` holds every valid row (keyed by line, loaded by one
    executemany per chunk). Once the file has been read to its end without
    error, `import_groups` gets one row per address: its first line, how
    many rows it has, the stored subscriber, and what to do (NEW, OLD, SKIP).
    New subscribers and their audit events are then written by INSERT ...
    SELECT, skipped addresses' events likewise; only the stored subscribers
    whose fields may change (a different value, or duplicates that may fill
    an empty field) pass through Python, a page at a time. Because the merge
    sees the whole file at once, its result never depends on chunk size.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        metadata = MetaData()
        self.rows = Table(
            "import_rows",
            metadata,
            Column("line", Integer, primary_key=True, autoincrement=False),
            Column("email", String(320), nullable=False),
            Column("email_hash", String(64), nullable=False),
            Column("name", String(FIELD_LIMIT), nullable=False),
            Column("company", String(FIELD_LIMIT), nullable=False),
            prefixes=["TEMPORARY"],
        )
        self.groups = Table(
            "import_groups",
            metadata,
            # Narrow on purpose (it is sorted by line): the address and its
            # hash are read from the group's first row in import_rows.
            Column("line", Integer, primary_key=True, autoincrement=False),
            Column("rows", Integer, nullable=False),
            Column("subscriber_id", Integer),
            Column("state", String(1), nullable=False),
            prefixes=["TEMPORARY"],
        )
        # Do-not-mail rows; usually a small share of a file, so no index.
        self.stops = Table(
            "import_stops",
            metadata,
            Column("line", Integer, primary_key=True, autoincrement=False),
            Column("email", String(320), nullable=False),
            Column("email_hash", String(64), nullable=False),
            Column("reason", String(30), nullable=False),
            Column("note", String(NOTE_LIMIT), nullable=False),
            prefixes=["TEMPORARY"],
        )
        connection = session.connection()
        for table in (self.rows, self.groups, self.stops):
            table.drop(connection, checkfirst=True)
            table.create(connection)
        self.load = _bulk_insert(
            session, self.rows, ("line", "email", "email_hash", "name", "company")
        )
        self.load_stops = _bulk_insert(
            session, self.stops, ("line", "email", "email_hash", "reason", "note")
        )

    def drop(self) -> None:
        connection = self.session.connection()
        if _temporary_file_of_its_own(connection):
            # SQLite's DROP TABLE visits every page of a table to free it (~0.7 s
            # of CPU for a million staged rows); a connection's temporary file is
            # simply deleted when it closes. So this connection is closed when the
            # session ends (the import's transaction commits or rolls back first),
            # instead of going back to the pool with the tables.
            connection.detach()
            return
        for table in (self.groups, self.rows, self.stops):
            table.drop(connection)


def _temporary_file_of_its_own(connection: Any) -> bool:
    """Whether this is SQLite with its database in a file: its temporary tables
    then live in a file of the connection's own, which closing the connection
    deletes. (A database in memory closes with its connection: that one is kept.)"""
    if connection.dialect.name != "sqlite":
        return False
    files = {name: file for _, name, file in connection.exec_driver_sql("PRAGMA database_list")}
    return bool(files.get("main"))


class _Merge:
    """The set-based half of an import: staged rows into subscribers and audit events."""

    def __init__(
        self,
        session: Session,
        staging: _Staging,
        mailing_list: MailingList,
        actor: str,
        now: datetime,
    ) -> None:
        self.session = session
        self.staging = staging
        self.list_id = mailing_list.id
        self.list_name = mailing_list.name
        self.actor = actor
        self.now = now

    def run(self, report: ImportReport) -> None:
        # Do-not-mail rows first: the rows to subscribe are then classified
        # against suppressions that include them.
        self._suppress(report)
        connection = self.session.connection()
        # Built after loading: one sort instead of a million index insertions.
        # It carries the hash so that grouping by address never reads the table.
        connection.exec_driver_sql(
            "CREATE INDEX import_rows_by_email ON import_rows (email, line, email_hash)"
        )
        if connection.dialect.name == "postgresql":
            # Autovacuum never analyses temporary tables; the planner needs their size.
            connection.exec_driver_sql("ANALYZE import_rows")
        connection.execute(self._classify())
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE import_groups")
        groups = self.staging.groups.c
        tally = {
            state: (count, rows)
            for state, count, rows in connection.execute(
                select(groups.state, func.count(), func.sum(groups.rows)).group_by(groups.state)
            )
        }
        # A statement for a state no address is in would still read every group:
        # such statements are left out (a first import has only NEW addresses).
        for state, kind in ((NEW, "added"), (SKIP, "skipped")):
            if state in tally:
                for line, email in connection.execute(self._sample(state)):
                    report.sample(kind, line, email)
        new_groups, new_rows = tally.get(NEW, (0, 0))
        old_groups, old_rows = tally.get(OLD, (0, 0))
        report.skipped_suppressed += tally.get(SKIP, (0, 0))[1]
        report.added += new_groups
        report.merged += (new_rows - new_groups) + (old_rows - old_groups)
        if SKIP in tally:
            connection.execute(self._events(SKIP, "subscriber.import_skipped", reason="suppressed"))
        # One stamp for every subscriber the import writes, changed or new, instead
        # of a trigger per row: preflight's personal-data index reads them all at
        # its next refresh (`storage.changes.bulk_stamp`).
        with changes.bulk_stamp(connection) as stamp:
            if old_groups:
                updated = self._update_stored(report, stamp) + self._merge_stored(report, stamp)
                for line, email in sorted(updated)[:SAMPLE]:
                    report.sample("updated", line, email)
                report.unchanged += old_groups - report.updated
            if new_groups:
                # The events first: both statements select the same NEW addresses.
                connection.execute(self._events(NEW, "subscriber.added"))
                connection.execute(self._insert_new(stamp))

    def _sample(self, state: str) -> Any:
        rows, groups = self.staging.rows.c, self.staging.groups.c
        return (
            select(groups.line, rows.email)
            .select_from(self.staging.groups.join(self.staging.rows, rows.line == groups.line))
            .where(groups.state == state)
            .order_by(groups.line)
            .limit(SAMPLE)
        )

    def _suppress(self, report: ImportReport) -> None:
        """Do-not-mail rows into suppressions (for every list, pushed to
        Postmark by the push duty) and the stored subscribers of those
        addresses out of the audience, all in SQL. The first row of an
        address gives the reason; an address already suppressed for every
        list is left as it is."""
        connection = self.session.connection()
        stops = self.staging.stops
        total = connection.execute(select(func.count()).select_from(stops)).scalar_one()
        if not total:
            return
        c = stops.c
        kept = _SUPPRESSIONS.c
        first = select(func.min(c.line)).group_by(c.email)
        fresh = and_(
            c.line.in_(first),
            ~select(kept.id)
            .where(kept.email_hash == c.email_hash, kept.scope == ALL_LISTS)
            .exists(),
        )
        for line, email in connection.execute(
            select(c.line, c.email).where(fresh).order_by(c.line).limit(SAMPLE)
        ):
            report.sample("suppressed", line, email)
        # Counted before, not by rowcount: PostgreSQL's driver gives -1 for INSERT ... SELECT.
        added = connection.execute(
            select(func.count()).select_from(stops).where(fresh)
        ).scalar_one()
        events = _AUDIT_EVENTS.c
        pairs: list[Any] = [
            *(literal("scope"), literal(ALL_LISTS), literal("reason"), c.reason),
            *(literal("origin"), literal(SuppressionOrigin.IMPORT.value)),
            *(literal("list"), literal(self.list_name), literal("line"), c.line),
        ]
        connection.execute(
            insert(_AUDIT_EVENTS).from_select(
                ["at", "actor", "action", "subject", "detail"],
                select(
                    self._constant(events.at, self.now),
                    self._constant(events.actor, self.actor),
                    self._constant(events.action, "suppression.added"),
                    literal("addr:") + func.substr(c.email_hash, 1, 16),
                    _json_object(*pairs),
                )
                .where(fresh)
                .order_by(c.line),
            )
        )
        connection.execute(
            insert(_SUPPRESSIONS).from_select(
                [
                    "email",
                    "email_hash",
                    "scope",
                    "reason",
                    "origin",
                    "actor",
                    "note",
                    "created_at",
                    "push_state",
                    "push_attempts",
                    "push_error",
                ],
                select(
                    c.email,
                    c.email_hash,
                    self._constant(kept.scope, ALL_LISTS),
                    c.reason,
                    self._constant(kept.origin, SuppressionOrigin.IMPORT.value),
                    self._constant(kept.actor, self.actor),
                    c.note,
                    self._constant(kept.created_at, self.now),
                    self._constant(kept.push_state, PushState.PENDING.value),
                    self._constant(kept.push_attempts, 0),
                    self._constant(kept.push_error, ""),
                )
                .where(fresh)
                .order_by(c.line),
            )
        )
        report.suppressed += added
        report.already_suppressed += total - added
        # Stored subscribers of these addresses, on every list, leave the audience.
        stored = _SUBSCRIBERS.c
        for reason, status in STATUS_FOR_REASON.items():
            chosen = select(c.email).where(c.line.in_(first), c.reason == reason.value)
            active = and_(
                stored.status == SubscriberStatus.ACTIVE.value,
                stored.email.in_(chosen),
            )
            connection.execute(
                insert(_AUDIT_EVENTS).from_select(
                    ["at", "actor", "action", "subject", "detail"],
                    select(
                        self._constant(events.at, self.now),
                        self._constant(events.actor, self.actor),
                        self._constant(events.action, "subscriber.status"),
                        literal("addr:") + func.substr(c.email_hash, 1, 16),
                        _json_object(
                            literal("status"),
                            literal(status.value),
                            literal("list_id"),
                            stored.list_id,
                            literal("line"),
                            c.line,
                        ),
                    )
                    .select_from(_SUBSCRIBERS.join(stops, c.email == stored.email))
                    .where(active, c.line.in_(first))
                    .order_by(c.line, stored.list_id),
                )
            )
            report.stopped += connection.execute(
                update(_SUBSCRIBERS).where(active).values(status=status.value, updated_at=self.now)
            ).rowcount

    def _classify(self) -> Any:
        rows, groups = self.staging.rows.c, self.staging.groups
        subscribers = _SUBSCRIBERS
        stored = subscribers.c
        kept = _SUPPRESSIONS.c
        first = (
            select(
                func.min(rows.line).label("line"),
                rows.email,
                # Every row of an address has the same hash.
                func.min(rows.email_hash).label("email_hash"),
                func.count().label("rows"),
            )
            .group_by(rows.email)
            .subquery("first")
        )
        suppressed = (
            select(kept.id)
            .where(
                kept.email_hash == first.c.email_hash,
                kept.scope.in_((ALL_LISTS, self.list_name)),
            )
            .exists()
        )
        state = case(
            (suppressed, SKIP),
            (stored.id.is_(None), NEW),
            (stored.status != SubscriberStatus.ACTIVE.value, SKIP),
            else_=OLD,
        )
        query = (
            select(
                first.c.line,
                first.c.rows,
                stored.id,
                state,
            )
            .select_from(
                first.outerjoin(
                    subscribers,
                    and_(stored.list_id == self.list_id, stored.email == first.c.email),
                )
            )
            .order_by(first.c.line)
        )
        return insert(groups).from_select(["line", "rows", "subscriber_id", "state"], query)

    def _constant(self, column: Any, value: Any) -> Any:
        return literal(value, column.type)

    def _events(self, state: str, action: str, **extra: str) -> Any:
        rows, groups = self.staging.rows.c, self.staging.groups.c
        events = _AUDIT_EVENTS
        pairs: list[Any] = [literal("list"), literal(self.list_name), literal("line"), groups.line]
        for key, value in extra.items():
            pairs += [literal(key), literal(value)]
        query = (
            select(
                self._constant(events.c.at, self.now),
                self._constant(events.c.actor, self.actor),
                self._constant(events.c.action, action),
                # bot.audit.address_ref, in SQL.
                literal("addr:") + func.substr(rows.email_hash, 1, 16),
                _json_object(*pairs),
            )
            .select_from(self.staging.groups.join(self.staging.rows, rows.line == groups.line))
            .where(groups.state == state)
            .order_by(groups.line)
        )
        return insert(events).from_select(["at", "actor", "action", "subject", "detail"], query)

    def _insert_new(self, stamp: int) -> Any:
        rows, groups = self.staging.rows.c, self.staging.groups.c
        later = self.staging.rows.alias("later")
        subscribers = _SUBSCRIBERS
        stored = subscribers.c

        def merged(field: str) -> Any:
            # First row wins; a later row fills the field only if it is still empty.
            own = rows[field]
            filler = (
                select(later.c[field])
                .where(later.c.email == rows.email, later.c.line > rows.line, later.c[field] != "")
                .order_by(later.c.line)
                .limit(1)
                .scalar_subquery()
            )
            return case((or_(own != "", groups.rows == 1), own), else_=func.coalesce(filler, ""))

        query = (
            select(
                self._constant(stored.list_id, self.list_id),
                rows.email,
                merged("name"),
                merged("company"),
                self._constant(stored.status, SubscriberStatus.ACTIVE.value),
                self._constant(stored.created_at, self.now),
                self._constant(stored.updated_at, self.now),
                self._constant(stored.change_seq, stamp),
            )
            .select_from(self.staging.groups.join(self.staging.rows, rows.line == groups.line))
            .where(groups.state == NEW)
            .order_by(groups.line)
        )
        columns = ["list_id", "email", "name", "company", "status", "created_at", "updated_at"]
        return insert(subscribers).from_select([*columns, "change_seq"], query)

    def _update_stored(self, report: ImportReport, stamp: int) -> list[tuple[int, str]]:
        """Stored, active subscribers that one row of the file changes, in SQL: a
        field the row gives replaces the stored one (an empty field never erases),
        audited with the fields that changed, stamped with the import's `stamp`
        (so no trigger runs for them). Returns the first rows changed (line,
        address). Addresses with several rows go through `_merge_stored`."""
        connection = self.session.connection()
        rows, groups = self.staging.rows.c, self.staging.groups.c
        stored = _SUBSCRIBERS.c
        name_changed = and_(rows.name != "", rows.name != stored.name)
        company_changed = and_(rows.company != "", rows.company != stored.company)
        changing = and_(
            groups.state == OLD,
            groups.rows == 1,
            or_(name_changed, company_changed),
        )
        joined = self.staging.groups.join(self.staging.rows, rows.line == groups.line).join(
            _SUBSCRIBERS, stored.id == groups.subscriber_id
        )
        count = connection.execute(
            select(func.count()).select_from(joined).where(changing)
        ).scalar_one()
        if not count:
            return []
        first = connection.execute(
            select(groups.line, rows.email)
            .select_from(joined)
            .where(changing)
            .order_by(groups.line)
            .limit(SAMPLE)
        ).all()
        fields = case(
            (and_(name_changed, company_changed), _json_array(literal("name"), literal("company"))),
            (name_changed, _json_array(literal("name"))),
            else_=_json_array(literal("company")),
        )
        events = _AUDIT_EVENTS.c
        # The events first: they compare the file's values with the stored ones.
        connection.execute(
            insert(_AUDIT_EVENTS).from_select(
                ["at", "actor", "action", "subject", "detail"],
                select(
                    self._constant(events.at, self.now),
                    self._constant(events.actor, self.actor),
                    self._constant(events.action, "subscriber.updated"),
                    literal("addr:") + func.substr(rows.email_hash, 1, 16),
                    _json_object(
                        *(literal("list"), literal(self.list_name)),
                        *(literal("line"), groups.line, literal("fields"), fields),
                    ),
                )
                .select_from(joined)
                .where(changing)
                .order_by(groups.line),
            )
        )
        connection.execute(
            update(_SUBSCRIBERS)
            .where(
                stored.id == groups.subscriber_id,
                rows.line == groups.line,
                changing,
            )
            .values(
                name=case((rows.name != "", rows.name), else_=stored.name),
                company=case((rows.company != "", rows.company), else_=stored.company),
                updated_at=self._constant(stored.updated_at, self.now),
                change_seq=self._constant(stored.change_seq, stamp),
            )
        )
        report.updated += count
        return [(line, email) for line, email in first]

    def _merge_stored(self, report: ImportReport, stamp: int) -> list[tuple[int, str]]:
        """Stored, active subscribers with several rows in the file (a later row
        may fill a field the first left empty): in Python, a page at a time. A
        changed row carries the import's `stamp`, so no trigger runs for it.
        Returns the first rows changed (line, address)."""
        connection = self.session.connection()
        rows, groups = self.staging.rows.c, self.staging.groups.c
        later = self.staging.rows.alias("later")
        subscribers = _SUBSCRIBERS
        stored = subscribers.c
        page = (
            select(
                groups.line,
                groups.rows,
                rows.email_hash,
                rows.email,
                rows.name,
                rows.company,
                stored.id,
                stored.name.label("stored_name"),
                stored.company.label("stored_company"),
            )
            .select_from(
                self.staging.groups.join(self.staging.rows, rows.line == groups.line).join(
                    subscribers, stored.id == groups.subscriber_id
                )
            )
            .where(groups.state == OLD, groups.rows > 1, groups.line > bindparam("after"))
            .order_by(groups.line)
            .limit(PAGE)
        )
        duplicates = (
            select(later.c.line, later.c.name, later.c.company)
            .where(later.c.email == bindparam("email"), later.c.line > bindparam("line"))
            .order_by(later.c.line)
        )
        change = _BulkWrite(
            self.session,
            update(subscribers)
            .where(stored.id == bindparam("sid"))
            .values(
                name=bindparam("name"),
                company=bindparam("company"),
                updated_at=bindparam("updated_at"),
                change_seq=bindparam("stamp"),
            ),
            {
                "sid": stored.id.type,
                "name": stored.name.type,
                "company": stored.company.type,
                "updated_at": stored.updated_at.type,
                "stamp": stored.change_seq.type,
            },
            ("sid", "name", "company"),
            {"updated_at": self.now, "stamp": stamp},
        )
        events = _bulk_insert(
            self.session,
            _AUDIT_EVENTS,
            ("action", "subject", "detail"),
            {"at": self.now, "actor": self.actor, "issue_id": None},
        )
        samples: list[tuple[int, str]] = []
        after = 0
        while True:
            found = connection.execute(page, {"after": after}).all()
            if not found:
                return samples
            after = found[-1].line
            updates: list[tuple[Any, ...]] = []
            audited: list[tuple[str, str, dict[str, Any]]] = []
            for row in found:
                ref = audit.address_ref(row.email_hash)
                current = (row.stored_name, row.stored_company)
                # An empty field never erases what is stored.
                base = (row.name or row.stored_name, row.company or row.stored_company)
                if base == current:
                    pass  # counted as unchanged by the caller
                else:
                    report.updated += 1
                    if len(samples) < SAMPLE:
                        samples.append((row.line, row.email))
                    audited.append(
                        (
                            "subscriber.updated",
                            ref,
                            {
                                "list": self.list_name,
                                "line": row.line,
                                "fields": _changed(_Fields(*current), base),
                            },
                        )
                    )
                name, company = base
                merged_from = []
                if row.rows > 1 and (not name or not company):
                    for dup in connection.execute(
                        duplicates, {"email": row.email, "line": row.line}
                    ):
                        if (not name and dup.name) or (not company and dup.company):
                            merged_from.append(dup.line)
                            name, company = name or dup.name, company or dup.company
                if merged_from:
                    audited.append(
                        (
                            "subscriber.merged",
                            ref,
                            {
                                "list": self.list_name,
                                "lines": merged_from,
                                "fields": _changed(_Fields(*base), (name, company)),
                            },
                        )
                    )
                if (name, company) != current:
                    updates.append((row.id, name, company))
            change(updates)
            events(audited)


class _Fields(NamedTuple):
    name: str
    company: str


def _changed(old: Any, new: tuple[str, str]) -> list[str]:
    pairs = zip(("name", "company"), (old.name, old.company), new, strict=True)
    return [f for f, a, b in pairs if a != b]


def export_csv(db: Database, out: IO[str], *, list_name: str) -> int:
    """Write the list as CSV (email,name,company,status); return the row count.

    Forgotten people (address erased) are not exported. Cells a spreadsheet
    would run are neutralised (`bot.csvfile`); `import_csv` reads the file back.
    """
    writer = csvfile.writer(out)
    writer.writerow((*COLUMNS, "status"))
    count = 0
    with db.sessions() as session:
        mailing_list = session.execute(
            select(MailingList).where(MailingList.name == list_name)
        ).scalar_one_or_none()
        if mailing_list is None:
            return 0
        rows = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company, Subscriber.status)
            .where(Subscriber.list_id == mailing_list.id, Subscriber.email.is_not(None))
            .order_by(Subscriber.id)
            .execution_options(yield_per=5_000)
        )
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def counts_by_status(session: Session, list_name: str) -> dict[str, int]:
    mailing_list = session.execute(
        select(MailingList).where(MailingList.name == list_name)
    ).scalar_one_or_none()
    if mailing_list is None:
        return {}
    rows = session.execute(
        select(Subscriber.status, func.count())
        .where(Subscriber.list_id == mailing_list.id)
        .group_by(Subscriber.status)
    ).all()
    return {status: count for status, count in rows}
