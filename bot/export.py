"""Leaving is as easy as arriving: `countersign export DIR`.

Writes, as CSV through `bot.csvfile.writer` (cells a spreadsheet would run
are neutralised):
- `subscribers-<list>.csv` for each list — `email,name,company,status`, which
  `countersign subscribers import FILE --list NAME` reads back (a row whose
  status is not active comes back as a suppression, never as a subscriber);
- `suppressions.csv` — `email,reason,scope,origin,created_at,note`, which
  `countersign suppressions import FILE` reads back;
- `audit.csv` — the whole audit trail, oldest first.

A forgotten person is kept only as a salted hash, which means nothing to
another installation: such suppressions are counted, not written. The export
itself is audited (counts only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from bot import audit, csvfile
from bot.clock import Clock
from bot.subscribers import export_csv
from storage.db import Database
from storage.models import AuditEvent, MailingList, Suppression

SUPPRESSION_COLUMNS = ("email", "reason", "scope", "origin", "created_at", "note")
AUDIT_COLUMNS = ("id", "at", "actor", "action", "issue_id", "subject", "detail")
_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass
class Exported:
    files: dict[str, int] = field(default_factory=dict)  # file name -> rows written
    forgotten: int = 0  # suppressions kept only as a hash, not written


def list_file_name(list_name: str, taken: set[str]) -> str:
    """`subscribers-<list>.csv`, safe on every file system and unique."""
    stem = _UNSAFE.sub("_", list_name).strip("._") or "list"
    name, n = f"subscribers-{stem[:80]}.csv", 2
    while name in taken:
        name, n = f"subscribers-{stem[:80]}-{n}.csv", n + 1
    taken.add(name)
    return name


def export_all(db: Database, directory: Path, *, actor: str, clock: Clock) -> Exported:
    """Write every list, the suppressions and the audit trail into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    done = Exported()
    with db.sessions() as session:
        list_names = list(
            session.execute(select(MailingList.name).order_by(MailingList.id)).scalars()
        )
    taken: set[str] = set()
    for list_name in list_names:
        name = list_file_name(list_name, taken)
        with (directory / name).open("w", encoding="utf-8", newline="") as out:
            done.files[name] = export_csv(db, out, list_name=list_name)
    with (
        db.sessions() as session,
        (directory / "suppressions.csv").open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csvfile.writer(out)
        writer.writerow(SUPPRESSION_COLUMNS)
        rows = session.execute(
            select(
                Suppression.email,
                Suppression.reason,
                Suppression.scope,
                Suppression.origin,
                Suppression.created_at,
                Suppression.note,
            )
            .where(Suppression.email.is_not(None))
            .order_by(Suppression.id)
            .execution_options(yield_per=5_000)
        )
        count = 0
        for email, reason, scope, origin, created_at, note in rows:
            writer.writerow((email, reason, scope, origin, created_at.isoformat(), note))
            count += 1
        done.files["suppressions.csv"] = count
        done.forgotten = int(
            session.execute(
                select(func.count(Suppression.id)).where(Suppression.email.is_(None))
            ).scalar_one()
        )
    with (
        db.sessions() as session,
        (directory / "audit.csv").open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csvfile.writer(out)
        writer.writerow(AUDIT_COLUMNS)
        count = 0
        for event in session.execute(
            select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=5_000)
        ).scalars():
            writer.writerow(
                (
                    event.id,
                    event.at.isoformat(),
                    event.actor,
                    event.action,
                    event.issue_id,
                    event.subject,
                    json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
                )
            )
            count += 1
        done.files["audit.csv"] = count
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="data.exported",
            at=clock.now(),
            files=dict(done.files),
            forgotten=done.forgotten,
        )
    return done
