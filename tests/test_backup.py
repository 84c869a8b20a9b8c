"""Backup while a send runs, restore, and what a restore refuses.

The backup and the restore run as the real `countersign` console script in
their own processes, beside the delivery engine of this one — as an operator
would run them beside the bot.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import approvals, backup, delivery, leases
from bot.cli import main
from bot.clock import SystemClock
from bot.scheduler import LEASE_NAME
from bot.settings import HELP, Settings
from storage.db import Database, connect
from storage.models import (
    AuditEvent,
    Delivery,
    Send,
    Subscriber,
    Suppression,
)
from tests.fixtures.database import PG_URL
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    ledger_rows,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import APPROVER, EDITOR, build_desk
from tests.test_cli import CLI, run

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="the backup API is SQLite's")


@pytest.fixture
def cli() -> str:
    assert CLI, "the countersign console script is not installed in this environment"
    return CLI


@pytest.fixture
def countersign(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Any:
    """`countersign ARGS` in this process (the console script's own `main`), with
    DATABASE_URL and nothing else of the developer's environment: (exit, out, err)."""

    def call(*args: str, database_url: str) -> tuple[int, str, str]:
        for name in [*Settings.model_fields, *HELP]:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.chdir(tmp_path)  # no .env of the developer's
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _table(db: Database, *columns: Any) -> list[tuple[Any, ...]]:
    with db.sessions() as session:
        return [tuple(row) for row in session.execute(select(*columns).order_by(columns[0]))]


def _everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "subscribers": _table(db, Subscriber.id, Subscriber.email, Subscriber.name,
                              Subscriber.company, Subscriber.status),
        "suppressions": _table(db, Suppression.id, Suppression.email_hash, Suppression.scope,
                               Suppression.reason),
        "audit": _table(db, AuditEvent.id, AuditEvent.actor, AuditEvent.action,
                        AuditEvent.subject, AuditEvent.detail),
    }  # fmt: skip


@sqlite_only
def test_backup_while_a_send_runs_and_restore_brings_back_the_same_data(
    cli: str, db: Database, database_url: str, postmark: Any, clock: Any, tmp_path: Path
):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 400)
    with desk.db.transaction() as session:  # one reader unsubscribed before
        session.execute(update(Subscriber).where(Subscriber.id == 1).values(status="unsubscribed"))
    postmark.latency = 0.3  # slow until the backup is made, so it lands mid-send
    request_id = approved_request(desk)
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None
    backup_file = tmp_path / "backup.db"
    with running(desk, FAST):
        wait_until(lambda: any(s == "sent" for _, s, _, _ in ledger_rows(desk, send_id)))
        copied = backup.backup(desk.db, backup_file, actor="cli", now=clock.now())
        postmark.latency = 0.0
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert copied.subscribers == 400
    with sqlite3.connect(backup_file) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    backup_db = connect(f"sqlite:///{backup_file}")
    in_backup = _everything(backup_db)
    with backup_db.sessions() as session:
        sent_then = len(
            session.execute(
                select(Delivery.id).where(Delivery.send_id == send_id, Delivery.status == "sent")
            ).all()
        )
        assert session.execute(select(Send.state).where(Send.id == send_id)).scalar() == "sending"
    backup_db.dispose()
    assert 0 < sent_then < 399, "the premise: a snapshot in the middle of the send"

    # A reader unsubscribes at Postmark after the backup; the database is lost.
    late = "reader399@example.com"
    postmark.suppress(late, stream="broadcast", reason="ManualSuppression", origin="Recipient")
    target = tmp_path / "restored.db"
    restored_url = f"sqlite:///{target}"
    done = run(cli, "restore", str(backup_file), database_url=restored_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "400 subscribers" in done.stdout and "Halted 1 send from the backup." in done.stdout

    restored_db = connect(restored_url)
    now_there = _everything(restored_db)
    assert now_there["subscribers"] == in_backup["subscribers"]
    assert now_there["suppressions"] == in_backup["suppressions"]
    assert now_there["audit"][: len(in_backup["audit"])] == in_backup["audit"]
    added = [action for _, _, action, _, _ in now_there["audit"][len(in_backup["audit"]) :]]
    assert "send.halted" in added and added[-1] == "database.restored"
    with restored_db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None and send.state == "halted"
        assert session.execute(select(leases.Lease)).first() is None

    # Resuming needs two people, and pulls Postmark's suppressions before any batch.
    restored = make_desk(restored_db, postmark.url, clock)
    card = approvals.request_resume(restored, send.issue_id, actor=EDITOR)
    approvals.approve(restored, card.request_id, actor=APPROVER)
    with running(restored, FAST):
        assert delivery.start_approved(restored, card.request_id) == send_id
        wait_until(lambda: send_state(restored, send_id) == "finished", timeout=60)
    with restored_db.sessions() as session:
        late_row = session.execute(
            select(Delivery.status)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Subscriber.email == late)
        ).scalar_one()
    assert late_row == "skipped"  # suppressed locally by the sync, never offered to Postmark
    restored_db.dispose()


def _subscriber_count(db: Database) -> int:
    return len(_table(db, Subscriber.id))


@sqlite_only
def test_restore_refuses_while_a_bot_holds_the_lease(
    cli: str, db: Database, database_url: str, tmp_path: Path
):
    backup_file = tmp_path / "b.db"
    assert (
        run(cli, "backup", str(backup_file), database_url=database_url, cwd=tmp_path).returncode
        == 0
    )
    add_subscribers(build_desk(db, SystemClock()), 5)
    assert leases.acquire(
        db, LEASE_NAME, "bot-host:4242", now=SystemClock().now(), ttl=timedelta(minutes=5)
    )
    refused = run(cli, "restore", str(backup_file), database_url=database_url, cwd=tmp_path)
    assert refused.returncode == 1
    assert (
        "a bot is running on this database" in refused.stderr and "bot-host:4242" in refused.stderr
    )
    assert _subscriber_count(db) == 5  # nothing changed
    assert not list(tmp_path.glob("*.before-restore-*"))


@sqlite_only
def test_restore_refuses_files_that_are_no_sound_backup(
    countersign: Any, db: Database, database_url: str, tmp_path: Path
):
    text = tmp_path / "notes.txt"
    text.write_text("email\nhanako@example.com\n")
    damaged = tmp_path / "damaged.db"
    sound = tmp_path / "sound.db"
    assert countersign("backup", str(sound), database_url=database_url)[0] == 0
    damaged.write_bytes(sound.read_bytes()[: 4096 + 100])
    future = tmp_path / "future.db"
    future.write_bytes(sound.read_bytes())
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    cases = {
        tmp_path / "missing.db": "there is no file",
        text: "is not an SQLite database",
        damaged: "is damaged",
        future: "schema revision 9999_from_the_future",
    }
    for path, why in cases.items():
        code, _out, err = countersign("restore", str(path), database_url=database_url)
        assert code == 2 and why in err, (path, err)
    assert _subscriber_count(db) == 0 and not list(tmp_path.glob("*.before-restore-*"))
    code, _out, err = countersign("backup", str(sound), database_url=database_url)
    assert code == 2 and "exists already" in err


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL leg only")
def test_backup_on_postgresql_names_pg_dump(countersign: Any, database_url: str, tmp_path: Path):
    code, _out, err = countersign("backup", str(tmp_path / "b.dump"), database_url=database_url)
    assert code == 2 and "pg_dump --format=custom" in err
