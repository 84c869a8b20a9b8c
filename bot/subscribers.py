"""Subscriber lists: import from CSV, export to CSV, counts.

An import a list owner can trust:
- streamed in chunks, so memory stays flat however long the file is;
- one transaction: a file that turns out unreadable halfway changes nothing;
- addresses validated (syntax only) and normalised (`bot.addresses`);
- an address that appears twice in a file is one subscriber: the first row
  wins, later rows only fill fields the first left empty;
- an empty field never erases a known name or company;
- a suppressed or unsubscribed address is never resubscribed: it is skipped;
- each rejected row is reported with its line number and reason;
- importing the same file again changes nothing;
- every change is an audit event (addresses by hash, see `bot.audit`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from sqlalchemy import Column, MetaData, String, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.addresses import InvalidAddress, address_hash, normalise
from bot.clock import Clock
from bot.installation import address_salt
from storage.db import Database
from storage.models import (
    ALL_LISTS,
    AuditEvent,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Suppression,
)

COLUMNS = ("email", "name", "company")
IGNORED_COLUMNS = ("status",)  # written by export; an import never changes status
FIELD_LIMIT = 200
CHUNK = 5_000
REJECTED_KEPT = 1_000  # reasons kept for the report; the count is always exact


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; nothing was changed."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, row by row: every row read is counted exactly once,
    as added, updated, unchanged (its address's first row in the file), merged
    (a later row for an address already met in the file), skipped as
    suppressed/unsubscribed, or rejected. `added` and `updated` equal the
    `subscriber.added` and `subscriber.updated` audit events; a merged row
    that fills an empty field of a stored subscriber is audited as
    `subscriber.merged`."""

    list_name: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    skipped_suppressed: int = 0
    rejected_count: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REJECTED_KEPT:
            self.rejected.append(RejectedRow(line, reason))


@dataclass(frozen=True)
class _Row:
    line: int
    email: str
    name: str
    company: str


def get_or_create_list(session: Session, name: str, now: datetime) -> MailingList:
    found = session.execute(
        select(MailingList).where(MailingList.name == name)
    ).scalar_one_or_none()
    if found is None:
        found = MailingList(name=name, created_at=now)
        session.add(found)
        session.flush()
    return found


def import_csv(
    db: Database, path: Path, *, list_name: str, actor: str, clock: Clock, chunk: int = CHUNK
) -> ImportReport:
    """Import `path` into `list_name`. Raises UnreadableFile (nothing changed)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(f"cannot open {path}: {exc.strerror}") from None
    with handle:
        head = handle.read(8192)
        if not head.strip(b"\xef\xbb\xbf \r\n\t"):
            raise UnreadableFile(
                f"{path} is empty: expected a header line such as email,name,company"
            )
        if b"\x00" in head:
            raise UnreadableFile(f"{path} is a binary file, not a CSV text file")
        handle.seek(0)
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        return _import_stream(
            db, text, str(path), list_name=list_name, actor=actor, clock=clock, chunk=chunk
        )


def _import_stream(
    db: Database, text: IO[str], label: str, *, list_name: str, actor: str, clock: Clock, chunk: int
) -> ImportReport:
    now = clock.now()
    report = ImportReport(list_name=list_name)
    reader = csv.reader(text, strict=True)
    try:
        with db.transaction() as session:
            header = _read_header(reader, label)
            mailing_list = get_or_create_list(session, list_name, now)
            salt = address_salt(session)
            lookups = _Lookups(session, mailing_list)
            writer = _Writer(session, mailing_list, actor, now)
            for rows in _chunks(reader, header, report, label, chunk):
                _apply_chunk(session, rows, writer, salt, lookups, report)
            lookups.drop()
            audit.record(
                session,
                actor=actor,
                action="subscribers.imported",
                at=now,
                subject=f"list:{list_name}",
                file=Path(label).name,
                rows=report.rows,
                added=report.added,
                updated=report.updated,
                merged=report.merged,
                skipped_suppressed=report.skipped_suppressed,
                rejected=report.rejected_count,
            )
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{label} is not UTF-8 text (near line {reader.line_num + 1}): "
            "save it as UTF-8 and import it again"
        ) from exc
    except csv.Error as exc:
        raise UnreadableFile(
            f"{label} is malformed or truncated at line {reader.line_num}: {exc}"
        ) from exc
    return report


def _read_header(reader: Any, label: str) -> dict[str, int]:
    first = next(reader, None)
    if first is None:
        raise UnreadableFile(f"{label} is empty: expected a header line such as email,name,company")
    names = [cell.strip().lower() for cell in first]
    unknown = [n for n in names if n not in COLUMNS + IGNORED_COLUMNS]
    if "email" not in names or unknown:
        shown = ",".join(first)[:80]
        raise UnreadableFile(
            f"{label} does not start with the expected header: columns email,name,company "
            f"(name and company optional), found {shown!r}"
        )
    if len(set(names)) != len(names):
        raise UnreadableFile(f"{label} names a column twice in its header")
    return {name: index for index, name in enumerate(names)}


def _chunks(
    reader: Any, header: dict[str, int], report: ImportReport, label: str, size: int
) -> Iterator[list[_Row]]:
    width = len(header)
    email_at = header["email"]
    name_at = header.get("name")
    company_at = header.get("company")
    rows: list[_Row] = []
    for cells in reader:
        line = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # blank line
        report.rows += 1
        if len(cells) != width:
            report.reject(line, f"expected {width} fields, found {len(cells)}")
            continue
        try:
            email = normalise(cells[email_at])
        except InvalidAddress as exc:
            report.reject(line, f"invalid address: {exc.reason}")
            continue
        name = cells[name_at].strip() if name_at is not None else ""
        company = cells[company_at].strip() if company_at is not None else ""
        if len(name) > FIELD_LIMIT or len(company) > FIELD_LIMIT:
            report.reject(line, f"name or company longer than {FIELD_LIMIT} characters")
            continue
        rows.append(_Row(line, email, name, company))
        if len(rows) >= size:
            yield rows
            rows = []
    if rows:
        yield rows


class _BulkInsert:
    """An executemany INSERT of many rows that differ in a few columns.

    The SQL is SQLAlchemy's own for the dialect, and each value goes through
    its column type's own bind processor (datetimes, JSON) exactly as with
    `connection.execute(insert(table), rows)`; but the constant columns are
    converted once per import instead of once per row, and SQLAlchemy's
    per-row bookkeeping is skipped. On a million-row file that is most of
    the import's cost.
    """

    def __init__(
        self,
        session: Session,
        table: Table,
        varying: tuple[str, ...],
        constants: dict[str, Any] | None = None,
    ) -> None:
        constants = constants or {}
        self.session = session
        dialect = session.connection().dialect
        keys = [*varying, *constants]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        self.sql = compiled.string

        def converter(key: str) -> Any:
            return table.c[key].type.dialect_impl(dialect).bind_processor(dialect)

        self.converters = [converter(key) for key in varying]
        fixed = {}
        for key, value in constants.items():
            convert = converter(key)
            fixed[key] = convert(value) if convert is not None else value
        self.varying = varying
        self.fixed = fixed
        # Positional drivers (sqlite3: qmark) take tuples in the statement's order.
        self.order = list(compiled.positiontup or ()) if compiled.positional else None

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if any(c is not None for c in self.converters):
            rows = [
                tuple(v if c is None else c(v) for c, v in zip(self.converters, row, strict=True))
                for row in rows
            ]
        params: list[Any]
        if self.order is not None:
            where = {key: i for i, key in enumerate(self.varying)}
            slots = [(where.get(key, -1), self.fixed.get(key)) for key in self.order]
            params = [tuple([row[i] if i >= 0 else c for i, c in slots]) for row in rows]
        else:
            params = [{**self.fixed, **dict(zip(self.varying, row, strict=True))} for row in rows]
        self.session.connection().exec_driver_sql(self.sql, params)


class _Lookups:
    """What the database already knows about a chunk's addresses.

    The chunk's addresses go into a temporary table, joined against the
    subscribers, the suppressions and the addresses already met in this file
    (a second temporary table, so memory stays flat on a file of a million
    rows). Fixed statements with a few parameters, rather than IN lists of
    thousands: cheaper to build, and prepared once.
    """

    def __init__(self, session: Session, mailing_list: MailingList) -> None:
        self.session = session
        metadata = MetaData()
        self.seen = Table(
            "import_seen",
            metadata,
            Column("email", String(320), primary_key=True),
            prefixes=["TEMPORARY"],
        )
        # No index on the chunk: the planner must walk the chunk and look each
        # address up in the big tables' indexes, never the other way round.
        self.chunk = Table(
            "import_chunk",
            metadata,
            Column("email", String(320)),
            Column("email_hash", String(64)),
            prefixes=["TEMPORARY"],
        )
        connection = session.connection()
        for table in (self.seen, self.chunk):
            table.drop(connection, checkfirst=True)
            table.create(connection)
        self.fill = _BulkInsert(session, self.chunk, ("email", "email_hash"))
        chunk, seen = self.chunk.c, self.seen.c
        self.earlier = select(chunk.email).join(self.seen, seen.email == chunk.email)
        met = select(seen.email).where(seen.email == chunk.email).exists()
        self.remember = insert(self.seen).from_select(["email"], select(chunk.email).where(~met))
        self.suppressed = (
            select(Suppression.email_hash)
            .join(self.chunk, chunk.email_hash == Suppression.email_hash)
            .where(Suppression.scope.in_((ALL_LISTS, mailing_list.name)))
        )
        self.existing = (
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.company,
                Subscriber.status,
            )
            .join(self.chunk, chunk.email == Subscriber.email)
            .where(Subscriber.list_id == mailing_list.id)
        )
        self.clear = self.chunk.delete()

    def __call__(self, hashes: dict[str, str]) -> tuple[set[str], set[str], dict[str, Any]]:
        """For these addresses (email -> hash): those met earlier in the file,
        the suppressed hashes, and the stored subscribers by email. Each call
        remembers its addresses as met."""
        connection = self.session.connection()
        self.fill(list(hashes.items()))
        earlier = set(connection.execute(self.earlier).scalars())
        suppressed = set(connection.execute(self.suppressed).scalars())
        existing = {row.email: row for row in connection.execute(self.existing)}
        connection.execute(self.remember)
        connection.execute(self.clear)
        return earlier, suppressed, existing

    def drop(self) -> None:
        connection = self.session.connection()
        for table in (self.chunk, self.seen):
            table.drop(connection)


class _Writer:
    """What one import writes: subscribers and their audit events."""

    def __init__(
        self, session: Session, mailing_list: MailingList, actor: str, now: datetime
    ) -> None:
        self.list_name = mailing_list.name
        self.list_id = mailing_list.id
        self.now = now
        self.subscribers = _BulkInsert(
            session,
            Subscriber.__table__,  # type: ignore[arg-type]
            ("email", "name", "company"),
            {
                "list_id": mailing_list.id,
                "status": SubscriberStatus.ACTIVE.value,
                "created_at": now,
                "updated_at": now,
            },
        )
        self.events = _BulkInsert(
            session,
            AuditEvent.__table__,  # type: ignore[arg-type]
            ("action", "subject", "detail"),
            {"at": now, "actor": actor, "issue_id": None},
        )


class _Fields(NamedTuple):
    name: str
    company: str


def _changed(old: Any, new: tuple[str, str]) -> list[str]:
    pairs = zip(("name", "company"), (old.name, old.company), new, strict=True)
    return [f for f, a, b in pairs if a != b]


def _apply_chunk(
    session: Session,
    rows: list[_Row],
    writer: _Writer,
    salt: bytes,
    lookups: _Lookups,
    report: ImportReport,
) -> None:
    # Duplicates inside this chunk are applied after the first row for their
    # address, exactly as if they had come in a later chunk: they only fill
    # fields still empty. So the result never depends on where chunks end.
    first: dict[str, _Row] = {}
    later: dict[str, list[_Row]] = {}
    for row in rows:
        if row.email in first:
            later.setdefault(row.email, []).append(row)
        else:
            first[row.email] = row
    hashes = {email: address_hash(salt, email) for email in first}
    earlier, suppressed, existing = lookups(hashes)
    inserts: list[tuple[str, str, str]] = []
    updates: list[dict[str, Any]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    list_name = writer.list_name

    for email, row in first.items():
        current = existing.get(email)
        is_dup = email in earlier
        dups = later.get(email, ())
        if hashes[email] in suppressed or (
            current is not None and current.status != SubscriberStatus.ACTIVE
        ):
            report.skipped_suppressed += 1 + len(dups)
            if not is_dup:
                events.append(
                    (
                        "subscriber.import_skipped",
                        audit.address_ref(hashes[email]),
                        {"list": list_name, "line": row.line, "reason": "suppressed"},
                    )
                )
            continue
        report.merged += len(dups)
        if current is None:
            name, company = row.name, row.company
            for dup in dups:
                name, company = name or dup.name, company or dup.company
            inserts.append((email, name, company))
            report.added += 1
            events.append(
                (
                    "subscriber.added",
                    audit.address_ref(hashes[email]),
                    {"list": list_name, "line": row.line},
                )
            )
            continue
        ref = audit.address_ref(hashes[email])
        if is_dup:  # met in an earlier chunk: its first row has already been applied
            report.merged += 1
            base = (current.name, current.company)
            fillers: list[_Row] = [row, *dups]
        else:
            base = (row.name or current.name, row.company or current.company)
            fillers = list(dups)
            if base == (current.name, current.company):
                report.unchanged += 1
            else:
                report.updated += 1
                events.append(
                    (
                        "subscriber.updated",
                        ref,
                        {"list": list_name, "line": row.line, "fields": _changed(current, base)},
                    )
                )
        name, company = base
        merged_from = []
        for dup in fillers:
            if (not name and dup.name) or (not company and dup.company):
                merged_from.append(dup.line)
                name, company = name or dup.name, company or dup.company
        if merged_from:
            events.append(
                (
                    "subscriber.merged",
                    ref,
                    {
                        "list": list_name,
                        "lines": merged_from,
                        "fields": _changed(_Fields(*base), (name, company)),
                    },
                )
            )
        if (name, company) != (current.name, current.company):
            updates.append(
                {"sid": current.id, "name": name, "company": company, "updated_at": writer.now}
            )
    writer.subscribers(inserts)
    if updates:
        session.connection().execute(
            update(Subscriber.__table__)  # type: ignore[arg-type]
            .where(Subscriber.__table__.c.id == bindparam("sid"))
            .values(
                name=bindparam("name"),
                company=bindparam("company"),
                updated_at=bindparam("updated_at"),
            ),
            updates,
        )
    writer.events(events)


def export_csv(db: Database, out: IO[str], *, list_name: str) -> int:
    """Write the list as CSV (email,name,company,status); return the row count.

    Forgotten people (address erased) are not exported.
    """
    writer = csv.writer(out, lineterminator="\n")
    # The csv module quotes only the line terminator's characters, so a field
    # holding a bare carriage return would split its row when read back.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
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
        for email, name, company, status in rows:
            row = (email, name, company, status)
            (quoted if "\r" in name or "\r" in company else writer).writerow(row)
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
