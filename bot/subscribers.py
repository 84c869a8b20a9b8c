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
from typing import IO, Any

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
            seen = _SeenInFile(session)
            for rows in _chunks(reader, header, report, label, chunk):
                _apply_chunk(session, rows, mailing_list, salt, seen, report, actor, now)
            seen.drop()
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


class _SeenInFile:
    """Addresses already met in this file, kept in a temporary table so that
    memory stays flat on a file of a million rows."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.table = Table(
            "import_seen",
            MetaData(),
            Column("email", String(320), primary_key=True),
            prefixes=["TEMPORARY"],
        )
        self.table.create(session.connection(), checkfirst=True)

    def split(self, emails: list[str]) -> set[str]:
        """Return those of `emails` seen before, and remember them all."""
        seen = set(
            self.session.execute(
                select(self.table.c.email).where(self.table.c.email.in_(emails))
            ).scalars()
        )
        new = [{"email": e} for e in emails if e not in seen]
        if new:
            self.session.execute(insert(self.table), new)
        return seen

    def drop(self) -> None:
        self.table.drop(self.session.connection())


def _apply_chunk(
    session: Session,
    rows: list[_Row],
    mailing_list: MailingList,
    salt: bytes,
    seen: _SeenInFile,
    report: ImportReport,
    actor: str,
    now: datetime,
) -> None:
    # Duplicates inside this chunk fold into the first row for that address.
    first: dict[str, _Row] = {}
    duplicates: list[_Row] = []
    for row in rows:
        if row.email in first:
            duplicates.append(row)
        else:
            first[row.email] = row
    emails = list(first)
    earlier = seen.split(emails)
    hashes = {email: address_hash(salt, email) for email in emails}
    suppressed = set(
        session.execute(
            select(Suppression.email_hash).where(
                Suppression.email_hash.in_(list(hashes.values())),
                Suppression.scope.in_((ALL_LISTS, mailing_list.name)),
            )
        ).scalars()
    )
    existing = {
        s.email: s
        for s in session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.company,
                Subscriber.status,
            ).where(Subscriber.list_id == mailing_list.id, Subscriber.email.in_(emails))
        ).all()
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def event(action: str, email: str, **detail: Any) -> None:
        events.append(
            {
                "at": now,
                "actor": actor,
                "action": action,
                "issue_id": None,
                "subject": audit.address_ref(hashes[email]),
                "detail": {"list": mailing_list.name, **detail},
            }
        )

    for email, row in first.items():
        current = existing.get(email)
        is_dup = email in earlier
        if hashes[email] in suppressed or (
            current is not None and current.status != SubscriberStatus.ACTIVE
        ):
            report.skipped_suppressed += 1
            if not is_dup:
                event("subscriber.import_skipped", email, line=row.line, reason="suppressed")
            continue
        if current is None:
            inserts.append(
                {
                    "list_id": mailing_list.id,
                    "email": email,
                    "name": row.name,
                    "company": row.company,
                    "status": SubscriberStatus.ACTIVE,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            report.added += 1
            event("subscriber.added", email, line=row.line)
            continue
        if is_dup:
            name = current.name or row.name
            company = current.company or row.company
        else:
            name = row.name or current.name
            company = row.company or current.company
        if (name, company) != (current.name, current.company):
            updates.append({"sid": current.id, "name": name, "company": company, "updated_at": now})
            changed = [
                f
                for f, old, new in (
                    ("name", current.name, name),
                    ("company", current.company, company),
                )
                if old != new
            ]
            event("subscriber.updated", email, line=row.line, fields=changed)
            if is_dup:
                report.merged += 1
            else:
                report.updated += 1
        elif is_dup:
            report.merged += 1
        else:
            report.unchanged += 1
    for row in duplicates:
        # Same address twice in one chunk: fill what the first row left empty.
        target = next((i for i in inserts if i["email"] == row.email), None)
        if target is not None:
            target["name"] = target["name"] or row.name
            target["company"] = target["company"] or row.company
        report.merged += 1
    if inserts:
        session.execute(insert(Subscriber), inserts)
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
    if events:
        session.execute(insert(AuditEvent), events)


def export_csv(db: Database, out: IO[str], *, list_name: str) -> int:
    """Write the list as CSV (email,name,company,status); return the row count.

    Forgotten people (address erased) are not exported.
    """
    writer = csv.writer(out, lineterminator="\n")
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
            writer.writerow((email, name, company, status))
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
