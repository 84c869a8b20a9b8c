"""CSV import and export of subscribers (bot.subscribers): an import a list owner can trust."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

import bot.subscribers as subscribers_module
from bot.addresses import address_hash, address_hasher
from bot.clock import FrozenClock
from bot.csvfile import HEAD_BYTES
from bot.installation import address_salt
from bot.preflight import PersonalDataCache
from bot.subscribers import (
    ImportReport,
    UnreadableFile,
    export_csv,
    get_or_create_list,
    import_csv,
)
from storage import changes, migrate
from storage.db import Database, connect
from storage.models import (
    ALL_LISTS,
    AuditEvent,
    KeyValue,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.fixtures.files import write as write_file

LIST = "Newsletter"
HEADER = "email,name,company\n"


def write(folder: Path, content: str | bytes, name: str = "subscribers.csv") -> Path:
    return write_file(folder, content, name)


def run_import(
    db: Database, path: Path, clock: FrozenClock, *, list_name: str = LIST, chunk: int = 5_000
) -> ImportReport:
    return import_csv(db, path, list_name=list_name, actor="U_OWNER", clock=clock, chunk=chunk)


def subscribers(db: Database, list_name: str = LIST) -> dict[str, tuple[str, str, str]]:
    with db.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company, Subscriber.status)
            .join(MailingList, MailingList.id == Subscriber.list_id)
            .where(MailingList.name == list_name)
        ).all()
    return {email: (name, company, status) for email, name, company, status in rows}


def event_counts(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        rows = session.execute(
            select(AuditEvent.action, func.count()).group_by(AuditEvent.action)
        ).all()
    return {action: count for action, count in rows}


def snapshot(db: Database) -> dict[str, Any]:
    """Everything an import could touch."""
    with db.sessions() as session:
        return {
            "lists": session.execute(select(MailingList.id, MailingList.name)).all(),
            "subscribers": session.execute(
                select(
                    Subscriber.id,
                    Subscriber.list_id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.company,
                    Subscriber.status,
                    Subscriber.updated_at,
                ).order_by(Subscriber.id)
            ).all(),
            "audit": session.execute(select(func.count()).select_from(AuditEvent)).scalar(),
            "installation": session.execute(select(KeyValue.key, KeyValue.value)).all(),
            "suppressions": session.execute(select(func.count()).select_from(Suppression)).scalar(),
        }


def export(db: Database, list_name: str = LIST) -> str:
    out = io.StringIO()
    export_csv(db, out, list_name=list_name)
    return out.getvalue()


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def assert_audited(report: ImportReport, changes: dict[str, int]) -> None:
    """Each change the report counts is one audit event, and the import itself is one."""
    assert changes.get("subscriber.added", 0) == report.added
    assert changes.get("subscriber.updated", 0) == report.updated
    assert changes.get("subscribers.imported", 0) == 1


def suppress(db: Database, clock: FrozenClock, email: str, scope: str) -> None:
    with db.transaction() as session:
        salt = address_salt(session)
        session.add(
            Suppression(
                email=email,
                email_hash=address_hash(salt, email),
                scope=scope,
                reason="unsubscribed",
                origin="slack",
                actor="U_OPERATOR",
                created_at=clock.now(),
            )
        )


# --- good files ----------------------------------------------------------------------------------


def test_good_file_is_imported_with_exact_counts(db: Database, clock: FrozenClock, tmp_path):
    path = write(
        tmp_path,
        HEADER
        + "hanako@example.com,山田花子,株式会社サンプル\n"
        + "Taro.Suzuki@Example.COM , Taro Suzuki ,Example Ltd\n"
        + "\n"
        + "ichiro@example.jp,,\n",
    )
    before = event_counts(db)
    report = run_import(db, path, clock)
    assert (report.rows, report.added, report.updated, report.rejected_count) == (3, 3, 0, 0)
    assert (report.unchanged, report.merged, report.skipped_suppressed) == (0, 0, 0)
    assert subscribers(db) == {
        "hanako@example.com": ("山田花子", "株式会社サンプル", "active"),
        "taro.suzuki@example.com": ("Taro Suzuki", "Example Ltd", "active"),
        "ichiro@example.jp": ("", "", "active"),
    }
    assert_audited(report, delta(event_counts(db), before))


def test_audit_events_name_addresses_by_hash_only(db: Database, clock: FrozenClock, tmp_path):
    run_import(db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\n"), clock)
    with db.sessions() as session:
        events = session.execute(select(AuditEvent)).scalars().all()
        salt = address_salt(session)
    added = [e for e in events if e.action == "subscriber.added"]
    assert len(added) == 1
    assert added[0].actor == "U_OWNER"
    assert added[0].at == clock.now()
    assert added[0].subject == f"addr:{address_hash(salt, 'hanako@example.com')[:16]}"
    assert added[0].detail == {"list": LIST, "line": 2}
    everything = repr([(e.subject, e.detail) for e in events])
    assert "hanako" not in everything
    assert "山田" not in everything


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_utf8_with_and_without_bom(db: Database, clock: FrozenClock, tmp_path, bom: bytes):
    content = bom + (HEADER + "hanako@example.com,山田花子,株式会社サンプル\n").encode()
    report = run_import(db, write(tmp_path, content), clock)
    assert report.added == 1
    assert report.rejected_count == 0
    assert subscribers(db)["hanako@example.com"][:2] == ("山田花子", "株式会社サンプル")


def test_japanese_text_survives_export_byte_for_byte(db: Database, clock: FrozenClock, tmp_path):
    line = "hanako@example.com,山田花子,株式会社サンプル・東京支店（本社）"
    also = 'taro@example.jp,"鈴木 太郎, 次長",サンプル商事株式会社'
    run_import(db, write(tmp_path, f"{HEADER}{line}\n{also}\n"), clock)
    exported = export(db).encode("utf-8").splitlines()
    assert exported[0] == b"email,name,company,status"
    assert exported[1] == (line + ",active").encode("utf-8")
    assert exported[2] == (also + ",active").encode("utf-8")


def test_columns_in_any_order_and_optional(db: Database, clock: FrozenClock, tmp_path):
    path = write(tmp_path, "Company, EMAIL\n株式会社サンプル,hanako@example.com\n")
    report = run_import(db, path, clock)
    assert report.added == 1
    assert subscribers(db)["hanako@example.com"][:2] == ("", "株式会社サンプル")


def test_header_only_file_imports_nothing(db: Database, clock: FrozenClock, tmp_path):
    report = run_import(db, write(tmp_path, HEADER), clock)
    assert (report.rows, report.added) == (0, 0)
    assert subscribers(db) == {}


# --- duplicates and updates ---------------------------------------------------------------------

DUPLICATES = (
    HEADER
    + "hanako@example.com,山田花子,\n"  # 2
    + "taro@example.com,,\n"  # 3
    + "HANAKO@example.com,別の名前,株式会社サンプル\n"  # 4: fills company only
    + "ichiro@example.jp,Ichiro,\n"  # 5
    + "taro@EXAMPLE.com,Taro,Example Ltd\n"  # 6: fills both
    + "hanako@example.com,三人目,株式会社その他\n"  # 7: nothing left to fill
)


@pytest.mark.parametrize("chunk", [1, 2, 5_000])
def test_duplicates_merge_first_row_wins_later_rows_fill(
    db: Database, clock: FrozenClock, tmp_path, chunk: int
):
    before = event_counts(db)
    report = run_import(db, write(tmp_path, DUPLICATES), clock, chunk=chunk)
    assert subscribers(db) == {
        "hanako@example.com": ("山田花子", "株式会社サンプル", "active"),
        "taro@example.com": ("Taro", "Example Ltd", "active"),
        "ichiro@example.jp": ("Ichiro", "", "active"),
    }
    # The counts do not depend on where chunks end.
    assert (report.rows, report.added, report.updated, report.merged) == (6, 3, 0, 3)
    assert report.unchanged == 0
    assert_audited(report, delta(event_counts(db), before))


@pytest.mark.parametrize("chunk", [1, 5_000])
def test_duplicates_of_a_stored_subscriber_only_fill_empty_fields(
    db: Database, clock: FrozenClock, tmp_path, chunk: int
):
    run_import(db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\n", "a.csv"), clock)
    before = event_counts(db)
    second = write(
        tmp_path,
        HEADER
        + "hanako@example.com,,\n"  # unchanged: empty fields never erase
        + "hanako@example.com,別の名前,株式会社サンプル\n",  # fills the company only
        "b.csv",
    )
    report = run_import(db, second, clock, chunk=chunk)
    assert subscribers(db)["hanako@example.com"][:2] == ("山田花子", "株式会社サンプル")
    assert (report.unchanged, report.merged, report.updated, report.added) == (1, 1, 0, 0)
    changes = delta(event_counts(db), before)
    assert_audited(report, changes)
    assert changes.get("subscriber.merged") == 1


def test_an_empty_field_never_erases(db: Database, clock: FrozenClock, tmp_path):
    run_import(
        db, write(tmp_path, HEADER + "hanako@example.com,山田花子,株式会社サンプル\n", "a"), clock
    )
    before = event_counts(db)
    report = run_import(db, write(tmp_path, HEADER + "hanako@example.com,,\n", "b"), clock)
    assert (report.unchanged, report.updated) == (1, 0)
    assert subscribers(db)["hanako@example.com"][:2] == ("山田花子", "株式会社サンプル")
    only_email = run_import(db, write(tmp_path, "email\nhanako@example.com\n", "c"), clock)
    assert only_email.unchanged == 1
    assert subscribers(db)["hanako@example.com"][:2] == ("山田花子", "株式会社サンプル")
    assert delta(event_counts(db), before) == {"subscribers.imported": 2}


def test_a_new_value_updates_and_is_audited(db: Database, clock: FrozenClock, tmp_path):
    run_import(db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\n", "a"), clock)
    before = event_counts(db)
    report = run_import(
        db, write(tmp_path, HEADER + "hanako@example.com,,株式会社サンプル\n", "b"), clock
    )
    assert (report.updated, report.unchanged) == (1, 0)
    assert subscribers(db)["hanako@example.com"][:2] == ("山田花子", "株式会社サンプル")
    assert_audited(report, delta(event_counts(db), before))
    with db.sessions() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "subscriber.updated")
        ).scalar_one()
    assert event.detail["fields"] == ["company"]


def test_a_reimport_that_changes_ten_thousand_rows(db: Database, clock: FrozenClock, tmp_path):
    """A re-import that changes most of a list: each changed subscriber updated once
    with what the file says (an empty field never erases; a later row of the same
    address fills an empty field), audited with the fields that changed, and written
    with the import's one stamp, which every reader of the personal-data index has
    yet to read; the rows it leaves alone keep theirs."""
    count = 10_000
    stored = {
        f"p{i}@example.com": (f"名前{i}", f"Company {i}" if i % 3 else "") for i in range(count)
    }
    first = "".join(f"{email},{name},{company}\n" for email, (name, company) in stored.items())
    assert run_import(db, write(tmp_path, HEADER + first, "first.csv"), clock).added == count
    with db.sessions() as session:
        horizon, _ = changes.horizon(session.connection())
    lines, expected, fields, filled = [], {}, {}, {}
    for i, (email, (name, company)) in enumerate(stored.items()):
        line = len(lines) + 2
        if i % 10 == 9:  # the same again: unchanged
            lines.append(f"{email},{name},{company}")
            expected[email] = (name, company)
        elif i % 2 == 0:  # a new name, spelt in capitals; the empty company erases nothing
            lines.append(f"{email.upper()},新名{i},")
            expected[email] = (f"新名{i}", company)
            fields[line] = ["name"]
        else:  # a new company only
            lines.append(f"{email},,Firm {i}")
            expected[email] = (name, f"Firm {i}")
            fields[line] = ["company"]
        if i % 500 == 1:  # and a later row for the same address
            lines.append(f"{email},Other,Later Ltd")
            filled[line] = len(lines) + 1
    report = run_import(db, write(tmp_path, HEADER + "\n".join(lines) + "\n", "again.csv"), clock)
    assert (report.added, report.updated) == (0, len(fields))
    assert report.unchanged == count - len(fields)
    assert report.merged == len(filled)
    # The first rows changed, in the file's order, whichever way they were merged.
    assert report.samples["updated"] == [
        (n, f"p{i}@example.com") for n, i in ((2, 0), (3, 1), (5, 2), (6, 3), (7, 4))
    ]
    assert {e: v[:2] for e, v in subscribers(db).items()} == expected
    with db.sessions() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.detail).where(
                AuditEvent.action.in_(("subscriber.updated", "subscriber.merged"))
            )
        ).all()
        stamps = dict(
            session.execute(
                select(Subscriber.email, Subscriber.change_seq).where(
                    Subscriber.email.in_(list(stored))
                )
            ).all()
        )
    updated = {d["line"]: d["fields"] for a, d in events if a == "subscriber.updated"}
    assert updated == fields
    with db.sessions() as session:
        salt = address_salt(session)
        subjects = session.execute(
            select(AuditEvent.subject).where(AuditEvent.action == "subscriber.updated")
        ).scalars()
        assert set(subjects) == {
            f"addr:{address_hash(salt, e)[:16]}" for i, e in enumerate(stored) if i % 10 != 9
        }
    assert not [d for a, d in events if a == "subscriber.merged"]  # nothing left empty to fill
    changed = {e for i, e in enumerate(stored) if i % 10 != 9}
    assert len({stamps[e] for e in changed}) == 1
    assert min(stamps[e] for e in changed) >= horizon
    assert max(stamps[e] for e in set(stored) - changed) < horizon


def test_an_imports_changed_rows_reach_the_personal_data_index(
    db: Database, clock: FrozenClock, tmp_path
):
    """Changed by a re-import without a trigger per row, the new values are read at
    the next refresh of preflight's index, without a rebuild."""
    path = write(tmp_path, HEADER + "hanako@example.com,山田花子,\ntaro@example.com,Taro,\n")
    run_import(db, path, clock)
    cache = PersonalDataCache()
    before = cache.get(db)
    path = write(tmp_path, HEADER + "hanako@example.com,小林陽菜,北都商事株式会社\n", "again")
    assert run_import(db, path, clock).updated == 1
    after = cache.get(db)
    assert after.tables == before.tables  # read from the stamps, not rebuilt
    found = {needle for _, needle in after.find("小林陽菜さん、北都商事株式会社")}
    assert found == {"小林陽菜", "北都商事株式会社"}
    assert cache.get(db) is after  # nothing to read again


def test_no_staging_table_outlives_its_import(db: Database, clock: FrozenClock, tmp_path):
    """SQLite's staging tables leave with their connection, PostgreSQL's are dropped:
    none is left in the pool, after an import, a dry run or a failed import."""
    path = write(tmp_path, HEADER + "hanako@example.com,山田花子,\nhanako@,x,\n")
    run_import(db, path, clock)
    import_csv(
        db,
        path,
        list_name=LIST,
        actor="U_OWNER",
        clock=clock,
        options=subscribers_module.ImportOptions(dry_run=True),
    )
    with pytest.raises(UnreadableFile):
        run_import(db, write(tmp_path, HEADER + '"unterminated,x,y\n', "bad"), clock)
    with db.engine.connect() as connection:
        if db.is_sqlite:
            found = connection.exec_driver_sql("SELECT name FROM sqlite_temp_master").all()
        else:
            found = connection.exec_driver_sql(
                "SELECT relname FROM pg_class WHERE relpersistence = 't' "
                "AND relname IN ('import_rows', 'import_groups', 'import_stops')"
            ).all()
    assert found == []
    assert run_import(db, path, clock).unchanged == 1


def test_an_import_into_a_database_in_memory_keeps_it(clock: FrozenClock, tmp_path):
    """A database in memory lives as long as its connection: the import drops its
    staging tables instead of closing it."""
    db = connect("sqlite://")
    migrate.upgrade(db.engine)
    path = write(tmp_path, HEADER + "hanako@example.com,山田花子,\ntaro@example.com,Taro,\n")
    assert run_import(db, path, clock).added == 2
    assert run_import(db, path, clock).unchanged == 2
    assert set(subscribers(db)) == {"hanako@example.com", "taro@example.com"}
    db.dispose()


# --- suppressed and unsubscribed addresses ------------------------------------------------------


@pytest.mark.parametrize("scope", [ALL_LISTS, LIST])
def test_suppressed_address_is_skipped_and_never_resubscribed(
    db: Database, clock: FrozenClock, tmp_path, scope: str
):
    suppress(db, clock, "hanako@example.com", scope)
    path = write(
        tmp_path,
        HEADER + "Hanako@Example.com,山田花子,\nhanako@example.com,,\ntaro@example.com,Taro,\n",
    )
    for _ in range(2):
        before = event_counts(db)
        report = run_import(db, path, clock, chunk=1)
        assert report.skipped_suppressed == 2
        assert "hanako@example.com" not in subscribers(db)
        assert_audited(report, delta(event_counts(db), before))
        assert delta(event_counts(db), before).get("subscriber.import_skipped") == 1
    assert set(subscribers(db)) == {"taro@example.com"}


def test_suppression_on_another_list_does_not_apply(db: Database, clock: FrozenClock, tmp_path):
    suppress(db, clock, "hanako@example.com", "Other list")
    report = run_import(db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\n"), clock)
    assert (report.added, report.skipped_suppressed) == (1, 0)


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.INACTIVE])
def test_unsubscribed_subscriber_is_never_reactivated(
    db: Database, clock: FrozenClock, tmp_path, status: str
):
    run_import(db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\n", "a"), clock)
    with db.transaction() as session:
        session.execute(update(Subscriber).values(status=status))
    before = event_counts(db)
    report = run_import(
        db, write(tmp_path, HEADER + "HANAKO@example.com,新しい名前,株式会社サンプル\n", "b"), clock
    )
    assert (report.skipped_suppressed, report.updated, report.added) == (1, 0, 0)
    assert subscribers(db)["hanako@example.com"] == ("山田花子", "", status)
    assert_audited(report, delta(event_counts(db), before))


# --- rejected rows ------------------------------------------------------------------------------


def test_each_rejected_row_is_reported_with_its_line_and_reason(
    db: Database, clock: FrozenClock, tmp_path
):
    path = write(
        tmp_path,
        HEADER
        + "hanako@example.com,山田花子,株式会社サンプル\n"  # 2 ok
        + "not-an-address,Someone,\n"  # 3
        + "taro@example.com,Taro\n"  # 4 too few fields
        + "\n"  # 5 blank, ignored
        + "jiro@example.com,Jiro,Example,extra\n"  # 6 too many fields
        + ",No Address,\n"  # 7
        + "saburo@example.com,"
        + "長" * 201
        + ",\n"  # 8 too long
        + 'shiro@example.com,"Shiro\nSecond line",\n'  # 9-10 ok (quoted newline)
        + "goro@@example.com,,\n",  # 11
    )
    report = run_import(db, path, clock)
    assert report.rows == 8
    assert report.added == 2
    assert report.rejected_count == 6
    lines = {r.line: r.reason for r in report.rejected}
    assert set(lines) == {3, 4, 6, 7, 8, 11}
    assert lines[3].startswith("invalid address:")
    assert lines[4] == "expected 3 fields, found 2"
    assert lines[6] == "expected 3 fields, found 4"
    assert "empty" in lines[7]
    assert "longer than 200" in lines[8]
    assert lines[11].startswith("invalid address:")
    assert set(subscribers(db)) == {"hanako@example.com", "shiro@example.com"}


# --- unreadable files change nothing ------------------------------------------------------------


def _many_rows(count: int, start: int = 0) -> str:
    return "".join(
        f"user{i}@example.com,山田花子{i},株式会社サンプル\n" for i in range(start, count)
    )


UNREADABLE: dict[str, Any] = {
    "empty": (b"", "empty"),
    "only white space": (b"\xef\xbb\xbf \r\n\n", "empty"),
    "wrong header": ((b"mail,name,company\nhanako@example.com,x,y\n"), "expected header"),
    "unknown column": (b"email,name,phone\nhanako@example.com,x,y\n", "expected header"),
    "column twice": (b"email,name,email\nhanako@example.com,x,y\n", "twice"),
    "binary": (b"email,name\x00,company\n\x00\x01\x02\xff", "binary"),
    "shift_jis after the first 64 KB": (
        (HEADER + _many_rows(2_000)).encode()
        + "sjis@example.com,山田花子,株式会社サンプル\n".encode("shift_jis")
        + _many_rows(2_010, 2_000).encode(),
        "not UTF-8",
    ),
    "truncated in a quoted field": (
        (HEADER + _many_rows(300) + 'last@example.com,"山田').encode(),
        "truncated",
    ),
}


@pytest.mark.parametrize("case", list(UNREADABLE), ids=list(UNREADABLE))
def test_unreadable_file_raises_and_changes_nothing(
    db: Database, clock: FrozenClock, tmp_path, case: str
):
    content, message = UNREADABLE[case]
    # Data already there, which a half-done import could damage.
    run_import(db, write(tmp_path, HEADER + _many_rows(5) + "user299@example.com,,\n", "a"), clock)
    before = snapshot(db)
    path = write(tmp_path, content, "bad.csv")
    if case == "shift_jis after the first 64 KB":
        assert content.find(b"sjis@") > HEAD_BYTES  # the damage is only met mid-stream
    with pytest.raises(UnreadableFile) as caught:
        run_import(db, path, clock, chunk=7, list_name="Fresh list")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert snapshot(db) == before
    with pytest.raises(UnreadableFile):
        run_import(db, path, clock, chunk=7)
    assert snapshot(db) == before


def test_a_missing_file_is_unreadable(db: Database, clock: FrozenClock, tmp_path):
    before = snapshot(db)
    with pytest.raises(UnreadableFile, match="cannot open"):
        run_import(db, tmp_path / "missing.csv", clock)
    assert snapshot(db) == before


def test_not_utf8_error_names_the_line(db: Database, clock: FrozenClock, tmp_path):
    content, _ = UNREADABLE["shift_jis after the first 64 KB"]
    with pytest.raises(UnreadableFile, match=r"\(line 2002\)"):
        run_import(db, write(tmp_path, content), clock, chunk=10)


# --- importing twice; export -------------------------------------------------------------------

_POOL = [f"{name}@example.com" for name in ("hanako", "taro", "ichiro", "sakura", "kenta")] + [
    "yamada.hanako@example.jp",
    "info+news@example.net",
]
_TEXT = st.text(
    st.sampled_from(list("山田花子株式会社サンプル太郎鈴木 ,\"'-ABCxyz"))
    | st.characters(codec="utf-8"),
    max_size=12,
).filter(lambda s: "\x00" not in s)
_ROWS = st.lists(
    st.tuples(
        st.sampled_from(_POOL).flatmap(
            lambda e: st.sampled_from([e, e.upper(), f" {e.title()} ", "not-an-address"])
        ),
        _TEXT,
        _TEXT,
    ),
    max_size=14,
)
_list_numbers = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=_ROWS, chunk=st.sampled_from([1, 3, 5_000]))
def test_importing_the_same_file_twice_changes_nothing(
    db: Database, clock: FrozenClock, tmp_path_factory, rows: list[tuple[str, str, str]], chunk: int
):
    # A list of its own per example, so examples share the test's database safely.
    list_name = f"property {next(_list_numbers)}"
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # \r\n, as spreadsheets write it
    writer.writerow(("email", "name", "company"))
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("idempotent") / "list.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")

    before = event_counts(db)
    first = run_import(db, path, clock, list_name=list_name, chunk=chunk)
    assert_audited(first, delta(event_counts(db), before))
    assert first.rows == len(rows)
    assert first.rows == (
        first.added
        + first.updated
        + first.unchanged
        + first.merged
        + first.skipped_suppressed
        + first.rejected_count
    )
    exported = export(db, list_name)

    before = event_counts(db)
    second = run_import(db, path, clock, list_name=list_name, chunk=chunk)
    assert (second.added, second.updated) == (0, 0)
    assert second.unchanged == first.added
    assert second.rejected == first.rejected
    assert export(db, list_name) == exported
    assert delta(event_counts(db), before) == {"subscribers.imported": 1}


def test_export_round_trip(db: Database, clock: FrozenClock, tmp_path):
    run_import(
        db,
        write(
            tmp_path,
            HEADER
            + "hanako@example.com,山田花子,株式会社サンプル\n"
            + 'taro@example.jp,"Suzuki, Taro","Sample ""Quoted"" Co."\n'
            + "ichiro@example.net,,\n",
        ),
        clock,
    )
    exported = export(db)
    assert exported.splitlines()[0] == "email,name,company,status"
    path = write(tmp_path, exported, "exported.csv")
    report = run_import(db, path, clock, list_name="Copy")
    assert (report.added, report.rejected_count) == (3, 0)
    assert export(db, "Copy") == exported
    again = run_import(db, path, clock)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_export_quotes_a_bare_carriage_return(db: Database, clock: FrozenClock, tmp_path):
    path = write(tmp_path, HEADER + 'hanako@example.com,"山田\r花子",\n')
    assert run_import(db, path, clock).added == 1
    exported = export(db)
    assert list(csv.reader(io.StringIO(exported)))[1:] == [
        ["hanako@example.com", "山田\r花子", "", "active"]
    ]
    again = run_import(db, write(tmp_path, exported, "again.csv"), clock, list_name="Copy")
    assert again.added == 1
    assert export(db, "Copy") == exported


def test_export_of_an_unknown_list_is_just_the_header(db: Database):
    out = io.StringIO()
    assert export_csv(db, out, list_name="Nobody") == 0
    assert out.getvalue() == "email,name,company,status\n"


def test_export_leaves_out_forgotten_people(db: Database, clock: FrozenClock, tmp_path):
    run_import(
        db, write(tmp_path, HEADER + "hanako@example.com,山田花子,\ntaro@example.com,,\n"), clock
    )
    with db.transaction() as session:
        session.execute(
            update(Subscriber).where(Subscriber.email == "taro@example.com").values(email=None)
        )
    assert export(db).splitlines()[1:] == ["hanako@example.com,山田花子,,active"]


# --- the set-based merge: a reference model, chunk sizes, pages ----------------------------------


@settings(max_examples=200)
@given(salt=st.binary(min_size=1, max_size=64), address=st.text(max_size=80))
def test_address_hasher_is_address_hash(salt: bytes, address: str):
    assert address_hasher(salt)(address) == address_hash(salt, address)


def _expected(
    stored: dict[str, tuple[str, str, str]], rows: list[tuple[str, str, str]], suppressed: set[str]
) -> tuple[dict[str, tuple[str, str, str]], dict[str, int]]:
    """The import's rules, written as plainly as possible: what the list holds
    after importing `rows` (already valid, normalised addresses) onto `stored`."""
    result = dict(stored)
    counts = dict.fromkeys(("added", "updated", "unchanged", "merged", "skipped"), 0)
    groups: dict[str, list[tuple[str, str]]] = {}
    for email, name, company in rows:
        groups.setdefault(email, []).append((name.strip(), company.strip()))
    for email, group in groups.items():
        current = stored.get(email)
        if email in suppressed or (current is not None and current[2] != "active"):
            counts["skipped"] += len(group)
            continue
        counts["merged"] += len(group) - 1
        (name, company), later = group[0], group[1:]
        if current is None:
            counts["added"] += 1
        else:
            name, company = name or current[0], company or current[1]
            counts["unchanged" if (name, company) == current[:2] else "updated"] += 1
        for other_name, other_company in later:
            name, company = name or other_name, company or other_company
        result[email] = (name, company, "active")
    return result, counts


_ADDRESSES = [f"reader{i}@example.jp" for i in range(6)]
_SHORT = st.sampled_from(["", "", "山田花子", "Taro", "株式会社サンプル", " Acme "])
_FILE = st.lists(st.tuples(st.sampled_from(_ADDRESSES), _SHORT, _SHORT), max_size=12)
_STORED = st.dictionaries(
    st.sampled_from(_ADDRESSES),
    st.tuples(
        st.sampled_from(["", "山田花子", "Jiro"]),
        st.sampled_from(["", "例示工業株式会社"]),
        st.sampled_from(["active", "active", "unsubscribed", "inactive"]),
    ),
    max_size=4,
)


def _csv(rows: list[tuple[str, str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("email", "name", "company"))
    writer.writerows(rows)
    return buffer.getvalue()


def _store(db: Database, clock: FrozenClock, list_name: str, stored: dict[str, Any]) -> None:
    with db.transaction() as session:
        mailing_list = get_or_create_list(session, list_name, clock.now())
        for email, (name, company, status) in stored.items():
            session.add(
                Subscriber(
                    list_id=mailing_list.id,
                    email=email,
                    name=name,
                    company=company,
                    status=status,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )


def _list_events(db: Database, list_name: str) -> list[tuple[str, str, Any]]:
    with db.sessions() as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        return sorted(
            (e.action, e.subject, sorted(e.detail.items()))
            for e in events
            if e.detail.get("list") == list_name and e.action != "subscribers.imported"
        )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=_STORED, rows=_FILE, suppressed=st.sets(st.sampled_from(_ADDRESSES), max_size=2))
def test_import_matches_the_rules_whatever_the_chunk_size(
    db: Database,
    clock: FrozenClock,
    tmp_path_factory,
    stored: dict[str, tuple[str, str, str]],
    rows: list[tuple[str, str, str]],
    suppressed: set[str],
):
    """Every chunk size gives the list the model predicts, the same counts,
    and the very same audit events (ids apart)."""
    expected, counts = _expected(stored, rows, suppressed)
    path = tmp_path_factory.mktemp("model") / "list.csv"
    path.write_text(_csv(rows), encoding="utf-8", newline="")
    number = next(_list_numbers)
    trails = []
    for chunk in (1, 3, 5_000):
        list_name = f"model {number} chunk {chunk}"
        _store(db, clock, list_name, stored)
        for email in suppressed:
            suppress(db, clock, email, list_name)
        report = run_import(db, path, clock, list_name=list_name, chunk=chunk)
        assert subscribers(db, list_name) == expected
        assert {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "merged": report.merged,
            "skipped": report.skipped_suppressed,
        } == counts
        trails.append(
            [(a, s, [kv for kv in d if kv[0] != "list"]) for a, s, d in _list_events(db, list_name)]
        )
    assert trails[0] == trails[1] == trails[2]


def test_stored_subscribers_are_merged_page_by_page(
    db: Database, clock: FrozenClock, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(subscribers_module, "PAGE", 2)
    first = "".join(f"reader{i}@example.jp,,\n" for i in range(7))
    run_import(db, write(tmp_path, HEADER + first, "a.csv"), clock)
    before = event_counts(db)
    second = "".join(
        f"reader{i}@example.jp,名前{i},\nreader{i}@example.jp,,会社{i}\n" for i in range(7)
    )
    report = run_import(
        db, write(tmp_path, HEADER + "reader0@example.jp,,\n" + second, "b.csv"), clock
    )
    assert (report.updated, report.unchanged, report.merged) == (6, 1, 8)
    assert subscribers(db) == {
        f"reader{i}@example.jp": (f"名前{i}", f"会社{i}", "active") for i in range(7)
    }
    changes = delta(event_counts(db), before)
    assert_audited(report, changes)
    assert changes["subscriber.merged"] == 7


def test_a_failed_import_leaves_nothing_behind_for_the_next(
    db: Database, clock: FrozenClock, tmp_path
):
    content, _ = UNREADABLE["truncated in a quoted field"]
    with pytest.raises(UnreadableFile):
        run_import(db, write(tmp_path, content, "bad.csv"), clock, chunk=7)
    report = run_import(db, write(tmp_path, HEADER + _many_rows(20), "good.csv"), clock, chunk=7)
    assert (report.added, report.rejected_count) == (20, 0)
    assert len(subscribers(db)) == 20


def test_staged_rows_are_merged_only_after_the_whole_file_was_read(
    db: Database, clock: FrozenClock, tmp_path
):
    """A file that breaks after many chunks leaves even an earlier list untouched
    and audits nothing (the merge runs once, after the last chunk)."""
    run_import(db, write(tmp_path, HEADER + _many_rows(50), "a.csv"), clock)
    before = snapshot(db)
    broken = HEADER + _many_rows(400).replace(",株式会社サンプル", ",新会社") + 'x@example.com,"'
    with pytest.raises(UnreadableFile, match="truncated"):
        run_import(db, write(tmp_path, broken, "b.csv"), clock, chunk=10)
    assert snapshot(db) == before
