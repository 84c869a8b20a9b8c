"""Backup and restore of the embedded SQLite database.

`backup()` copies the database with SQLite's online backup API
(https://www.sqlite.org/backup.html) in one step: a consistent snapshot, taken
while the bot runs (WAL: the bot's writers are not held up by the copy).
PostgreSQL has its own tools (`pg_dump`, see docs/runbooks/backup-and-restore.*.md).

`restore()` puts a backup in place of the database, only while no bot process
holds the scheduler lease, and only a file that is a sound SQLite database of
this schema's history. The database it replaces is kept beside it
(`….before-restore-<time>`); the restored copy is migrated to head. Then,
because the backup's world is older than Postmark's:

- every send that was running when the backup was taken is halted, and every
  approval that could still start or resume a send is voided (the kill
  switch): nothing goes out from a restored database until two people approve
  again, and every start or resume pulls Postmark's suppressions first
  (`bot.delivery`), so a reader who unsubscribed after the backup is never
  mailed again;
- the leases the backup holds are dropped, so the next bot starts at once.

The report says what was restored: subscribers, suppressions, issues, audit events.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot import audit, leases
from bot.delivery import halt_all
from bot.desk import Desk
from bot.refusal import Refusal
from bot.scheduler import LEASE_NAME
from storage import migrate
from storage.db import Database, connect
from storage.models import AuditEvent, Issue, Lease, Subscriber, Suppression

RESTORE_NOTE = "restored from a backup"


@dataclass(frozen=True)
class Counts:
    subscribers: int
    suppressions: int
    issues: int
    audit_events: int


@dataclass(frozen=True)
class Restored:
    counts: Counts
    revision_was: str
    kept: Path | None  # where the replaced database was kept
    halted_sends: tuple[int, ...]
    voided_requests: tuple[int, ...]


def sqlite_path(db: Database) -> Path:
    """The file of an SQLite database; Refusal for any other kind."""
    if not db.is_sqlite:
        raise Refusal("backup_not_sqlite", backend=db.engine.dialect.name)
    name = db.engine.url.database
    if not name or name == ":memory:":
        raise Refusal("backup_not_sqlite", backend="sqlite in memory")
    return Path(name)


def backup(db: Database, target: Path, *, actor: str, now: datetime) -> Counts:
    """A consistent copy of the database into `target` (which must not exist yet)."""
    source = sqlite_path(db)
    if target.exists():
        raise Refusal("backup_target_exists", path=str(target))
    partial = target.with_name(target.name + ".partial")
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)  # pages=-1: everything in one step, one snapshot
    partial.rename(target)
    copied = counts_of(target)
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="database.backed_up",
            at=now,
            subject=f"file:{target.name}",
            **copied.__dict__,
        )
    return copied


def counts_of(path: Path) -> Counts:
    backup_db = connect(f"sqlite:///{path}")
    try:
        with backup_db.sessions() as session:
            return _counts(session)
    finally:
        backup_db.dispose()


def _counts(session: Session) -> Counts:
    def n(model: type) -> int:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())

    return Counts(
        subscribers=n(Subscriber),
        suppressions=n(Suppression),
        issues=n(Issue),
        audit_events=n(AuditEvent),
    )


def check_file(path: Path) -> str:
    """The schema revision of a sound backup; Refusal saying what is wrong otherwise."""
    if not path.is_file():
        raise Refusal("restore_no_file", path=str(path))
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise Refusal("restore_not_sqlite", path=str(path))
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise Refusal("restore_damaged", path=str(path), detail=str(verdict)[:200])
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Refusal("restore_damaged", path=str(path), detail=str(exc)[:200]) from None
    revision = row[0] if row else None
    if revision not in migrate.known_revisions():
        raise Refusal("restore_unknown_schema", path=str(path), revision=str(revision))
    return str(revision)


def restore(desk: Desk, source: Path, *, actor: str) -> Restored:
    """Put the backup `source` in place of the desk's database (see the module's text)."""
    target = sqlite_path(desk.db)
    now = desk.clock.now()
    holder = leases.holder_of(desk.db, LEASE_NAME, now=now) if target.exists() else None
    if holder is not None:
        raise Refusal("restore_bot_running", holder=holder)
    revision = check_file(source)
    if target.resolve() == source.resolve():
        raise Refusal("restore_same_file", path=str(source))
    kept: Path | None = None
    desk.db.dispose()  # no pooled connection may keep the old file open
    if target.exists():
        kept = target.with_name(f"{target.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        with sqlite3.connect(target, timeout=30) as old, sqlite3.connect(kept) as copy:
            old.backup(copy)
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(target, timeout=30) as dst:
        src.backup(dst)
    migrate.upgrade(desk.db.engine)
    with desk.db.transaction() as session:
        session.execute(delete(Lease))
    halted = halt_all(desk, actor=actor, reason="restored", detail=RESTORE_NOTE)
    with desk.db.transaction() as session:
        restored = _counts(session)
        audit.record(
            session,
            actor=actor,
            action="database.restored",
            at=now,
            subject=f"file:{source.name}",
            revision_was=revision,
            kept=kept.name if kept else "",
            halted_sends=halted.send_ids,
            voided_requests=list(halted.requests),
            **restored.__dict__,
        )
    return Restored(
        counts=restored,
        revision_was=revision,
        kept=kept,
        halted_sends=tuple(halted.send_ids),
        voided_requests=tuple(halted.requests),
    )
