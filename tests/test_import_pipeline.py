"""A large import's file read in a second process (bot.import_reader.pipelined):
the same rows, rejections and line numbers as in the importing process, and a
worker that stops, for whatever reason, fails the import with nothing changed."""

from __future__ import annotations

import csv
import io
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import bot.import_reader as import_reader
import bot.subscribers as subscribers_module
from bot import csvfile
from bot.clock import FrozenClock
from bot.import_formats import parse_columns
from bot.subscribers import ImportFailed, ImportOptions, UnreadableFile, import_csv
from storage.db import Database
from storage.models import AuditEvent, KeyValue, MailingList, Subscriber, Suppression
from tests.fixtures.files import write as write_file

LIST = "Newsletter"
MAILCHIMP = "Email Address,First Name,Last Name,Company,MEMBER_RATING,OPTIN_TIME\n"
UNSUBSCRIBED = (
    "Email Address,First Name,Last Name,Company,UNSUB_TIME,UNSUB_REASON,UNSUB_REASON_OTHER\n"
)


def write(folder: Path, content: str | bytes, name: str = "audience.csv") -> Path:
    return write_file(folder, content, name)


def mailchimp_rows(count: int, start: int = 0) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i in range(start, start + count):
        family, given = ("山田", "花子") if i % 2 else ("Smith", "Alice")
        writer.writerow((f"reader{i}@example.jp", given, family, "株式会社サンプル", "2", ""))
    return out.getvalue()


def import_file(
    db: Database, path: Path, clock: FrozenClock, *, pipeline: bool, **options: Any
) -> Any:
    return import_csv(
        db,
        path,
        list_name=LIST,
        actor="U_OWNER",
        clock=clock,
        chunk=options.pop("chunk", 5_000),
        options=ImportOptions(**options),
        pipeline=pipeline,
    )


def everything(db: Database) -> dict[str, Any]:
    """All an import can write, without ids and times that differ between two imports."""
    with db.sessions() as session:
        return {
            "lists": session.execute(select(MailingList.name)).scalars().all(),
            "subscribers": session.execute(
                select(
                    Subscriber.email, Subscriber.name, Subscriber.company, Subscriber.status
                ).order_by(Subscriber.id)
            ).all(),
            "suppressions": session.execute(
                select(
                    Suppression.email,
                    Suppression.email_hash,
                    Suppression.reason,
                    Suppression.note,
                ).order_by(Suppression.id)
            ).all(),
            "audit": session.execute(
                select(AuditEvent.action, AuditEvent.subject, AuditEvent.detail).order_by(
                    AuditEvent.id
                )
            ).all(),
        }


def report_fields(report: Any) -> dict[str, Any]:
    return dict(vars(report))


# --- the same file, the same result -------------------------------------------------------------

RICH = (
    mailchimp_rows(30)
    + "READER3@EXAMPLE.JP,,,New Company,2,\n"  # a duplicate, spelt otherwise
    + "not-an-address,Bad,Row,,2,\n"
    + "\n"  # a blank line is no row
    + 'quoted@example.jp,"Line one\nline two",Jones,,2,\n'  # one row over two lines
    + "short@example.jp,Too,Few\n"
    + "ctrl\x07@example.jp,Bell\x07,Ringer,,2,\n"  # control characters are taken out
    + "nul@example.jp,Nul\x00,Row,,2,\n"  # a NUL rejects its row
    + f"long@example.jp,{'x' * 201},,,2,\n"
    + mailchimp_rows(10, 100)
)


def test_a_file_imports_alike_with_and_without_the_second_process(
    database_template: str, clock: FrozenClock, tmp_path: Path
):
    from storage.db import connect
    from tests.fixtures.database import fresh_database_url

    results = []
    for pipeline in (False, True):
        folder = tmp_path / f"pipeline-{pipeline}"
        folder.mkdir()
        db = connect(fresh_database_url(database_template, folder))
        try:
            with db.transaction() as session:  # one salt for both, so that hashes compare
                session.add(KeyValue(key="address_salt", value="5a" * 32))
            # A stored subscriber and an earlier unsubscribe, which the file meets.
            import_file(
                db, write(folder, MAILCHIMP + mailchimp_rows(3, 200)), clock, pipeline=False
            )
            stops = UNSUBSCRIBED + "reader5@example.jp,,,,2024-01-01,NORMAL,\n"
            import_file(db, write(folder, stops, "left.csv"), clock, pipeline=False)
            rich = MAILCHIMP + mailchimp_rows(2, 200).replace("株式会社サンプル", "") + RICH
            report = import_file(db, write(folder, rich), clock, pipeline=pipeline, chunk=7)
            again = import_file(db, write(folder, stops, "left.csv"), clock, pipeline=pipeline)
            results.append((report_fields(report), report_fields(again), everything(db)))
        finally:
            db.dispose()
    assert results[0] == results[1]
    report = results[1][0]
    # Line 1 the header, 2-3 stored readers, 4-33 new ones, 34 a duplicate, 36 blank,
    # 37-38 one quoted row over two lines, 40 control characters (kept, without them).
    assert {r.line: r.reason for r in report["rejected"]} == {
        35: "invalid address: an address needs one @ with text before it",
        39: "expected 6 fields, found 3",
        41: "holds a NUL character (a binary or damaged line)",
        42: "name or company longer than 200 characters",
    }
    assert (report["rows"], report["added"], report["merged"]) == (49, 41, 1)
    assert report["skipped_suppressed"] == 1  # reader5, unsubscribed before
    assert ("ctrl@example.jp", "Bell Ringer", "", "active") in results[1][2]["subscribers"]


_CELL = st.text(
    st.sampled_from(list("山田花子株式会社 ,\"'-ABCxyz\r\n\x07\x00@."))
    | st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=10,
)
_ADDRESS = st.sampled_from(
    ["hanako@example.com", "HANAKO@example.com", " taro@example.jp ", "bad@", "x"]
)
_ROW = st.tuples(_ADDRESS, _CELL, _CELL, _CELL) | st.lists(_CELL, max_size=5)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(_ROW, max_size=12), blank=st.booleans(), unsubscribed=st.booleans())
def test_the_second_process_reads_every_row_as_this_process_does(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Any], blank: bool, unsubscribed: bool
):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if blank else "\n")
    header = ["Email Address", "First Name", "Last Name", "Company"]
    if unsubscribed:
        header.append("UNSUB_TIME")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if blank:
            out.write("\n")
    path = write(tmp_path_factory.mktemp("rows"), out.getvalue())
    assert rows_read(path, pipeline=True) == rows_read(path, pipeline=False)


def rows_read(
    path: Path, *, pipeline: bool, columns: str | None = None, do_not_mail: bool = False
) -> list[Any]:
    """The rows `bot.import_reader` makes of `path`, here or in a second process."""
    opened = csvfile.open_text(path)
    wanted = parse_columns(columns) if columns else None
    with opened.text:
        source = import_reader.Source(opened, str(path))
        source.header(wanted, do_not_mail)
        if pipeline:
            return list(import_reader.pipelined(path, opened, str(path), wanted, do_not_mail))
        return list(source.rows())


@pytest.mark.parametrize("pipeline", [False, True], ids=["here", "worker"])
def test_a_headerless_lists_first_line_is_cleaned_like_every_other(tmp_path: Path, pipeline: bool):
    """Control characters in the first line of a do-not-mail list without a header
    go as they do on any line (the first line's marks were once cleared as a header's
    are, and the address was then refused); a NUL there rejects only that line."""
    path = write(tmp_path, "\x07gone@example.com\nsecond\x1b@example.com\n")
    assert [row[:3] for row in rows_read(path, pipeline=pipeline, do_not_mail=True)] == [
        (1, "do_not_mail", "gone@example.com"),
        (2, "do_not_mail", "second@example.com"),
    ]
    path = write(tmp_path, "gone\x00@example.com\nsecond@example.com\n", "nul.txt")
    assert [row[:2] for row in rows_read(path, pipeline=pipeline, do_not_mail=True)] == [
        (1, "rejected"),
        (2, "do_not_mail"),
    ]


def test_a_headerless_do_not_mail_list_and_columns_read_alike(tmp_path: Path):
    path = write(tmp_path, "gone@example.com\nnot-an-address\n\nGONE@example.com\na,b\n")
    here = rows_read(path, pipeline=False, do_not_mail=True)
    assert rows_read(path, pipeline=True, do_not_mail=True) == here
    assert [row[:3] for row in here] == [
        (1, "do_not_mail", "gone@example.com"),
        (2, "rejected", "invalid address: an address needs one @ with text before it"),
        (4, "do_not_mail", "gone@example.com"),
        (5, "rejected", "expected 1 fields, found 2"),
    ]
    custom = write(
        tmp_path, "会社名,姓,名,E-mail\n株式会社サンプル,山田,花子,hanako@example.jp\n", "c"
    )
    spec = "email=E-mail,name=姓+名,company=会社名"
    here = rows_read(custom, pipeline=False, columns=spec)
    assert rows_read(custom, pipeline=True, columns=spec) == here
    assert here == [(2, "subscribe", "hanako@example.jp", "山田花子", "株式会社サンプル", "", "")]


# --- only large files pay for a process ----------------------------------------------------------


def test_only_a_large_file_is_read_in_a_second_process(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    started: list[Path] = []
    real = subscribers_module.pipelined

    def spy(path: Path, *args: Any) -> Any:
        started.append(path)
        return real(path, *args)

    monkeypatch.setattr(subscribers_module, "pipelined", spy)
    monkeypatch.setattr(import_reader, "_usable_cores", lambda: 2)
    small = write(tmp_path, MAILCHIMP + mailchimp_rows(20))
    import_csv(db, small, list_name=LIST, actor="U_OWNER", clock=clock)
    assert started == []
    monkeypatch.setattr(import_reader, "PIPELINE_BYTES", small.stat().st_size)
    report = import_csv(db, small, list_name="Second", actor="U_OWNER", clock=clock)
    assert started == [small]
    assert (report.rows, report.added) == (20, 20)
    # One usable core: the second process would only take turns with this one.
    monkeypatch.setattr(import_reader, "_usable_cores", lambda: 1)
    report = import_csv(db, small, list_name="Third", actor="U_OWNER", clock=clock)
    assert started == [small]
    assert (report.rows, report.added) == (20, 20)


def test_the_reading_process_does_without_the_database_layer():
    """What the worker imports to read a file (`bot.import_reader`, the formats, the
    addresses) loads neither SQLAlchemy nor the models: ~0.5 s of its start."""
    code = (
        "import sys, bot.import_reader; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic') "
        "or m == 'storage.models'))"
    )
    root = Path(__file__).resolve().parent.parent
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert found.stdout.strip() == "[]"


def test_the_pipe_holds_several_batches():
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("the system does not say how large a pipe is")
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    try:
        import_reader._widen(send)
        assert fcntl.fcntl(send.fileno(), fcntl.F_GETPIPE_SZ) >= import_reader.PIPE_BYTES
    finally:
        receive.close()
        send.close()


# --- a worker that stops changes nothing ---------------------------------------------------------


def _with_stored_data(db: Database, clock: FrozenClock, folder: Path) -> dict[str, Any]:
    import_file(
        db, write(folder, MAILCHIMP + mailchimp_rows(5, 900), "before.csv"), clock, pipeline=False
    )
    with db.sessions() as session:
        salt = session.execute(select(KeyValue.value)).scalars().all()
    return {"data": everything(db), "salt": salt}


def test_a_worker_killed_mid_file_fails_the_import_and_changes_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    before = _with_stored_data(db, clock, tmp_path)
    # A pipe of one page, and far more batches than it holds: the worker cannot
    # have finished when it is killed.
    monkeypatch.setattr(import_reader, "PIPE_BYTES", 4096)
    content = UNSUBSCRIBED + "".join(
        f"left{i}@example.jp,,,,2024-01-01,NORMAL,\n" for i in range(50)
    )
    content += "".join(
        f"reader{i}@example.jp,花子,山田,株式会社サンプル,,,\n"
        for i in range(import_reader.BATCH * 20)
    )
    path = write(tmp_path, content)
    killed: list[int] = []

    def kill_the_worker() -> None:
        for child in multiprocessing.active_children():
            if child.name == "countersign-import-reader" and not killed:
                assert child.pid is not None
                killed.append(child.pid)
                child.kill()
                child.join()

    real = subscribers_module._chunks

    def chunks(*args: Any) -> Any:
        for number, chunk in enumerate(real(*args)):
            if number == 1:
                kill_the_worker()
            yield chunk

    monkeypatch.setattr(subscribers_module, "_chunks", chunks)
    with pytest.raises(ImportFailed, match="stopped before the end of the file"):
        import_file(db, path, clock, pipeline=True, chunk=100)
    assert killed
    assert everything(db) == before["data"]
    with db.sessions() as session:
        assert session.execute(select(KeyValue.value)).scalars().all() == before["salt"]


def test_a_file_replaced_before_the_worker_opens_it_is_refused(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    before = _with_stored_data(db, clock, tmp_path)
    path = write(tmp_path, MAILCHIMP + mailchimp_rows(50))
    real = subscribers_module.address_salt

    def salt_then_replace(session: Any) -> bytes:
        write(tmp_path, MAILCHIMP + mailchimp_rows(60, 1_000))  # another file, same name
        return real(session)

    monkeypatch.setattr(subscribers_module, "address_salt", salt_then_replace)
    with pytest.raises(UnreadableFile, match="changed while it was being imported"):
        import_file(db, path, clock, pipeline=True)
    assert everything(db) == before["data"]


def test_a_worker_that_fails_fails_the_import_and_changes_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    before = _with_stored_data(db, clock, tmp_path)
    path = write(tmp_path, MAILCHIMP + mailchimp_rows(50))
    real = subscribers_module.address_salt

    def salt_then_remove(session: Any) -> bytes:
        path.unlink()  # the worker cannot open it
        return real(session)

    monkeypatch.setattr(subscribers_module, "address_salt", salt_then_remove)
    with pytest.raises(ImportFailed, match="FileNotFoundError"):
        import_file(db, path, clock, pipeline=True)
    assert everything(db) == before["data"]


# --- an unreadable file: the same message, the same line -----------------------------------------

_BULK = MAILCHIMP + mailchimp_rows(3_000)  # well past the 64 KB that decide the encoding
BROKEN = {
    "cp932 mid-file": _BULK.encode()
    + "sjis@example.jp,花子,山田,,2,\n".encode("cp932")
    + mailchimp_rows(5, 5_000).encode(),
    "truncated in a quoted field": (_BULK + 'last@example.jp,"山田').encode(),
    "a quote inside a field": (_BULK + 'bad@example.jp,"a"b,,,2,\n').encode(),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_refused_alike_through_the_second_process(
    db: Database, clock: FrozenClock, tmp_path: Path, case: str
):
    before = _with_stored_data(db, clock, tmp_path)
    path = write(tmp_path, BROKEN[case])
    messages = []
    for pipeline in (False, True):
        with pytest.raises(UnreadableFile) as caught:
            import_file(db, path, clock, pipeline=pipeline, chunk=100)
        messages.append(str(caught.value))
        assert everything(db) == before["data"]
    assert messages[0] == messages[1]
    assert "line 3002" in messages[0]


def test_the_command_exits_1_when_the_worker_fails_and_changes_nothing(
    database_url: str,
    db: Database,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    from bot import cli

    before = _with_stored_data(db, clock, tmp_path)
    path = write(tmp_path, MAILCHIMP + mailchimp_rows(50))
    real = subscribers_module.address_salt

    def salt_then_remove(session: Any) -> bytes:
        path.unlink()
        return real(session)

    monkeypatch.setattr(subscribers_module, "address_salt", salt_then_remove)
    monkeypatch.setattr(import_reader, "PIPELINE_BYTES", 0)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["subscribers", "import", str(path)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("countersign subscribers import: the import stopped: the process")
    assert error.endswith("Nothing was changed.")
    assert everything(db) == before["data"]
