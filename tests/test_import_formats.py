"""Arriving from another mailing system (bot.import_formats, bot.subscribers, bot.export):
Mailchimp's three exports in any order, listmonk, --columns, encodings, dry runs,
do-not-mail lists, CSV injection out and control characters in, leaving again."""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import csvfile
from bot.clock import FrozenClock
from bot.csvfile import neutralise, restore
from bot.export import export_all
from bot.import_formats import compose
from bot.subscribers import ImportOptions, ImportReport, UnreadableFile, import_csv
from bot.typed import is_storable
from storage import migrate
from storage.db import Database, connect
from storage.models import (
    AuditEvent,
    KeyValue,
    MailingList,
    PushState,
    Subscriber,
    Suppression,
)
from tests.fixtures.files import write

LIST = "Newsletter"
MAILCHIMP = [
    "Email Address",
    "First Name",
    "Last Name",
    "Address",
    "Phone Number",
    "Company",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
]
UNSUB = [
    "UNSUB_TIME",
    "UNSUB_CAMPAIGN_TITLE",
    "UNSUB_CAMPAIGN_ID",
    "UNSUB_REASON",
    "UNSUB_REASON_OTHER",
]
CLEAN = ["CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID"]
TAIL = ["LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS"]


def mailchimp(kind: str, people: list[tuple[str, str, str, str]]) -> str:
    """One of Mailchimp's audience export files: subscribed, unsubscribed or cleaned."""
    extra = {"subscribed": [], "unsubscribed": UNSUB, "cleaned": CLEAN}[kind]
    header = MAILCHIMP[:] + (["LAST_CHANGED"] if kind == "subscribed" else []) + extra + TAIL[1:]
    out = io.StringIO()
    writer = csv.writer(out)  # \r\n, as Mailchimp writes
    writer.writerow(header)
    for email, first, family, company in people:
        row = dict.fromkeys(header, "")
        row.update(
            {
                "Email Address": email,
                "First Name": first,
                "Last Name": family,
                "Company": company,
                "MEMBER_RATING": "2",
                "OPTIN_TIME": "2019-04-01 09:00:00",
                "UNSUB_TIME": "2024-05-01 12:00:00",
                "UNSUB_REASON": "NORMAL",
                "CLEAN_TIME": "2024-06-01 08:00:00",
                "TAGS": '"news","jp"',
            }
        )
        writer.writerow([row[h] for h in header])
    return out.getvalue()


def run(
    db: Database,
    path: Path,
    clock: FrozenClock,
    *,
    list_name: str = LIST,
    chunk: int = 5_000,
    **options: Any,
) -> ImportReport:
    return import_csv(
        db,
        path,
        list_name=list_name,
        actor="U_OWNER",
        clock=clock,
        chunk=chunk,
        options=ImportOptions(**options),
    )


def audience(db: Database, list_name: str = LIST) -> dict[str, tuple[str, str]]:
    """Who the next send would reach: active subscribers not suppressed."""
    with db.sessions() as session:
        suppressed = set(session.execute(select(Suppression.email)).scalars())
        rows = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company)
            .join(MailingList, MailingList.id == Subscriber.list_id)
            .where(MailingList.name == list_name, Subscriber.status == "active")
        ).all()
    return {e: (n, c) for e, n, c in rows if e not in suppressed}


def snapshot(db: Database) -> dict[str, Any]:
    with db.sessions() as session:
        return {
            "lists": session.execute(select(MailingList.id, MailingList.name)).all(),
            "subscribers": session.execute(
                select(
                    Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.status
                ).order_by(Subscriber.id)
            ).all(),
            "suppressions": session.execute(
                select(Suppression.email_hash, Suppression.reason).order_by(Suppression.id)
            ).all(),
            "audit": session.execute(select(func.count()).select_from(AuditEvent)).scalar(),
            "installation": session.execute(select(KeyValue.key, KeyValue.value)).all(),
        }


def counts(report: ImportReport) -> dict[str, int]:
    keys = (
        "rows", "added", "updated", "unchanged", "merged", "skipped_suppressed", "passed",
        "suppressed", "already_suppressed", "stopped", "rejected_count",
    )  # fmt: skip
    return {k: getattr(report, k) for k in keys}


# --- Mailchimp: three files, any order ----------------------------------------------------------

SUBSCRIBED = [
    ("hanako@example.com", "花子", "山田", "株式会社サンプル"),
    ("taro@example.com", "Taro", "Suzuki", "Example Ltd"),
    ("ichiro@example.jp", "一郎", "佐藤", ""),
    ("left.later@example.com", "Left", "Later", ""),  # unsubscribed after this export
    ("bounced@example.net", "Bounced", "Person", ""),  # cleaned after this export
]
UNSUBSCRIBED = [
    ("left.later@example.com", "Left", "Later", ""),
    ("Gone@Example.com", "Gone", "Long Ago", ""),
]
CLEANED = [("bounced@example.net", "Bounced", "Person", ""), ("dead@example.jp", "", "", "")]
FILES = {"subscribed": SUBSCRIBED, "unsubscribed": UNSUBSCRIBED, "cleaned": CLEANED}
LEFT = {"left.later@example.com", "gone@example.com", "bounced@example.net", "dead@example.jp"}


@pytest.mark.parametrize("order", list(itertools.permutations(FILES)), ids="-".join)
def test_mailchimp_exports_in_any_order_give_subscribed_minus_left(
    db: Database, clock: FrozenClock, tmp_path: Path, order: tuple[str, ...]
):
    for kind in order:
        report = run(db, write(tmp_path, mailchimp(kind, FILES[kind]), f"{kind}.csv"), clock)
        assert report.file_format == f"Mailchimp ({kind})"
        assert report.rejected_count == 0
    assert audience(db) == {
        "hanako@example.com": ("山田花子", "株式会社サンプル"),
        "taro@example.com": ("Taro Suzuki", "Example Ltd"),
        "ichiro@example.jp": ("佐藤一郎", ""),
    }
    with db.sessions() as session:
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
        pending = {s.push_state for s in session.execute(select(Suppression)).scalars()}
        notes = dict(session.execute(select(Suppression.email, Suppression.note)).all())
    assert reasons == {
        "left.later@example.com": "unsubscribed",
        "gone@example.com": "unsubscribed",
        "bounced@example.net": "hard_bounce",
        "dead@example.jp": "hard_bounce",
    }
    assert pending == {PushState.PENDING}  # the push duty takes them to Postmark
    assert notes["gone@example.com"] == "Mailchimp: unsubscribed 2024-05-01 12:00:00 NORMAL"
    assert notes["dead@example.jp"] == "Mailchimp: cleaned 2024-06-01 08:00:00"
    # An older "subscribed" export imported again never brings anyone back.
    again = run(db, write(tmp_path, mailchimp("subscribed", SUBSCRIBED), "old.csv"), clock)
    assert (again.added, again.updated) == (0, 0)
    assert again.skipped_suppressed == 2
    assert not LEFT & set(audience(db))


def test_a_later_unsubscribed_file_takes_stored_subscribers_out_and_audits(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    run(db, write(tmp_path, mailchimp("subscribed", SUBSCRIBED), "s.csv"), clock)
    before = _events(db)
    report = run(db, write(tmp_path, mailchimp("unsubscribed", UNSUBSCRIBED), "u.csv"), clock)
    assert (report.suppressed, report.stopped, report.added) == (2, 1, 0)
    changes = {k: v - before.get(k, 0) for k, v in _events(db).items() if v != before.get(k, 0)}
    assert changes == {"suppression.added": 2, "subscriber.status": 1, "subscribers.imported": 1}
    with db.sessions() as session:
        status = session.execute(
            select(Subscriber.status).where(Subscriber.email == "left.later@example.com")
        ).scalar_one()
        subjects = list(session.execute(select(AuditEvent.subject, AuditEvent.detail)).all())
    assert status == "unsubscribed"
    assert "left.later" not in repr(subjects)  # addresses by hash only
    again = run(db, write(tmp_path, mailchimp("unsubscribed", UNSUBSCRIBED), "u2.csv"), clock)
    assert (again.suppressed, again.already_suppressed, again.stopped) == (0, 2, 0)


def _events(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        rows = session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action))
        return {action: count for action, count in rows}


_PEOPLE = [f"reader{i}@example.jp" for i in range(8)]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subscribed=st.sets(st.sampled_from(_PEOPLE)),
    unsubscribed=st.sets(st.sampled_from(_PEOPLE)),
    cleaned=st.sets(st.sampled_from(_PEOPLE)),
    order=st.permutations(["subscribed", "unsubscribed", "cleaned"]),
    chunk=st.sampled_from([1, 2, 5_000]),
)
def test_whatever_the_audience_and_order_nobody_who_left_is_mailed(
    db: Database,
    clock: FrozenClock,
    tmp_path_factory: pytest.TempPathFactory,
    subscribed: set[str],
    unsubscribed: set[str],
    cleaned: set[str],
    order: list[str],
    chunk: int,
):
    folder = tmp_path_factory.mktemp("audience")
    list_name = f"audience {folder.name}"
    files = {"subscribed": subscribed, "unsubscribed": unsubscribed, "cleaned": cleaned}
    for kind in order:
        people = [
            (e.upper() if i % 2 else e, "", "", "") for i, e in enumerate(sorted(files[kind]))
        ]
        run(
            db,
            write(folder, mailchimp(kind, people), f"{kind}.csv"),
            clock,
            list_name=list_name,
            chunk=chunk,
        )
    with db.sessions() as session:
        suppressed = set(session.execute(select(Suppression.email)).scalars())
    reached = set(audience(db, list_name))
    # Suppressions of earlier examples count for every list, as they should.
    assert reached == subscribed - unsubscribed - cleaned - suppressed
    assert not reached & (unsubscribed | cleaned)


def test_names_are_composed_family_first_when_japanese():
    assert compose("花子", "山田") == "山田花子"
    assert compose("Alice", "Smith") == "Alice Smith"
    assert compose("ハナコ", "Yamada") == "Yamadaハナコ"
    assert compose("", "山田") == "山田"
    assert compose("Taro", "") == "Taro"


# --- listmonk, --columns, Countersign's own status column ------------------------------------

LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    'a1,hanako@example.com,山田花子,"{""company"": ""株式会社サンプル""}",enabled,'
    "2023-01-01 00:00:00+09:00,2023-01-02 00:00:00+09:00\n"
    "a2,blocked@example.com,Blocked,{},blocklisted,2023-01-01 00:00:00+09:00,"
    "2024-02-03 04:05:06+09:00\n"
    "a3,paused@example.com,Paused,{},disabled,2023-01-01 00:00:00+09:00,2023-01-01 00:00:00+09:00\n"
    "a4,odd@example.com,Odd,{},weird,2023-01-01 00:00:00+09:00,2023-01-01 00:00:00+09:00\n"
    'a5,broken@example.com,Broken,"{""company"": ",enabled,2023-01-01,2023-01-01\n'
)


def test_listmonk_export(db: Database, clock: FrozenClock, tmp_path: Path):
    report = run(db, write(tmp_path, LISTMONK, "subscribers.csv"), clock)
    assert report.file_format == "listmonk"
    assert counts(report) | {} == {
        "rows": 5, "added": 1, "updated": 0, "unchanged": 0, "merged": 0,
        "skipped_suppressed": 0, "passed": 1, "suppressed": 1, "already_suppressed": 0,
        "stopped": 0, "rejected_count": 2,
    }  # fmt: skip
    assert audience(db) == {"hanako@example.com": ("山田花子", "株式会社サンプル")}
    assert {r.line: r.reason for r in report.rejected} == {
        5: "unknown listmonk status 'weird'",
        6: "attributes are not valid JSON",
    }
    with db.sessions() as session:
        note = session.execute(select(Suppression.note)).scalar_one()
    assert note == "listmonk: blocklisted 2024-02-03 04:05:06+09:00"


def test_any_csv_with_columns_and_a_name_of_two_columns(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    content = "会社名,姓,名,E-mail,メモ\n株式会社サンプル,山田,花子,hanako@example.com,x\n,Smith,Alice,alice@example.com,\n"
    report = run(
        db,
        write(tmp_path, content, "list.csv"),
        clock,
        columns="email=E-mail,name=姓+名,company=会社名",
    )
    assert (report.added, report.rejected_count, report.file_format) == (2, 0, "custom columns")
    assert audience(db) == {
        "hanako@example.com": ("山田花子", "株式会社サンプル"),
        "alice@example.com": ("Smith Alice", ""),
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("name=氏名", "which one column holds the address"),
        ("email=E-mail,phone=電話", "--columns takes"),
        ("email=E-mail,name=氏名,name=名", "names name twice"),
        ("email=Mail", "no column 'Mail'"),
    ],
)
def test_bad_columns_are_refused(
    db: Database, clock: FrozenClock, tmp_path: Path, spec: str, message: str
):
    before = snapshot(db)
    with pytest.raises(UnreadableFile, match=message):
        run(
            db,
            write(tmp_path, "E-mail,氏名\nhanako@example.com,山田花子\n", "l.csv"),
            clock,
            columns=spec,
        )
    assert snapshot(db) == before


def test_own_status_column_makes_do_not_mail_rows(db: Database, clock: FrozenClock, tmp_path: Path):
    content = (
        "email,name,company,status\n"
        "hanako@example.com,山田花子,,active\n"
        "left@example.com,Left,,unsubscribed\n"
        "bounced@example.com,,,inactive\n"
        "odd@example.com,,,paused\n"
    )
    report = run(db, write(tmp_path, content, "export.csv"), clock)
    assert (report.added, report.suppressed, report.rejected_count) == (1, 2, 1)
    assert report.rejected[0].reason == "unknown status 'paused'"
    assert set(audience(db)) == {"hanako@example.com"}


def test_unknown_header_names_the_formats_and_columns(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    with pytest.raises(UnreadableFile) as caught:
        run(db, write(tmp_path, "メール,氏名\nhanako@example.com,山田花子\n", "l.csv"), clock)
    text = str(caught.value)
    assert "Mailchimp" in text and "listmonk" in text and "--columns" in text


# --- encodings ------------------------------------------------------------------------------

JAPANESE = "email,name,company\nhanako@example.com,山田花子,株式会社サンプル①～\n"


@pytest.mark.parametrize(
    ("content", "given", "expected"),
    [
        (JAPANESE.encode("utf-8"), None, "utf-8"),
        (b"\xef\xbb\xbf" + JAPANESE.encode("utf-8"), None, "utf-8-sig"),
        (JAPANESE.encode("cp932"), None, "cp932"),
        (JAPANESE.encode("cp932"), "Shift_JIS", "cp932"),
        (JAPANESE.encode("cp932"), "cp932", "cp932"),
    ],
    ids=["utf-8", "bom", "cp932 detected", "shift_jis given", "cp932 given"],
)
def test_encodings(
    db: Database,
    clock: FrozenClock,
    tmp_path: Path,
    content: bytes,
    given: str | None,
    expected: str,
):
    report = run(db, write(tmp_path, content, "l.csv"), clock, encoding=given)
    assert report.encoding == expected
    assert audience(db) == {"hanako@example.com": ("山田花子", "株式会社サンプル①～")}


def test_a_cp932_mailchimp_file_from_excel(db: Database, clock: FrozenClock, tmp_path: Path):
    content = mailchimp("subscribed", SUBSCRIBED).encode("cp932")
    report = run(db, write(tmp_path, content, "excel.csv"), clock)
    assert (report.encoding, report.added) == ("cp932", 5)
    assert audience(db)["hanako@example.com"] == ("山田花子", "株式会社サンプル")


@pytest.mark.parametrize(
    ("content", "given", "message"),
    [
        (JAPANESE.encode("cp932"), "utf-8", r"not UTF-8 text \(line 2\).*--encoding cp932"),
        (JAPANESE.encode("utf-16"), None, "UTF-16"),
        (b"email\n" + bytes(range(0x80, 0x100)) * 4, None, r"neither UTF-8 nor CP932.*line 2"),
        (JAPANESE.encode("utf-8"), "klingon", "unknown encoding"),
    ],
    ids=["cp932 read as utf-8", "utf-16", "neither", "unknown encoding"],
)
def test_undecodable_files_are_refused_with_the_line_and_what_to_do(
    db: Database,
    clock: FrozenClock,
    tmp_path: Path,
    content: bytes,
    given: str | None,
    message: str,
):
    before = snapshot(db)
    with pytest.raises(UnreadableFile, match=message):
        run(db, write(tmp_path, content, "l.csv"), clock, encoding=given)
    assert snapshot(db) == before


# --- dry runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mailchimp", "listmonk", "do-not-mail"])
def test_a_dry_run_changes_nothing_and_counts_what_the_import_does(
    db: Database, clock: FrozenClock, tmp_path: Path, kind: str
):
    run(db, write(tmp_path, mailchimp("subscribed", SUBSCRIBED[:3]), "base.csv"), clock)
    content, options = {
        "mailchimp": (mailchimp("unsubscribed", UNSUBSCRIBED), {}),
        "listmonk": (LISTMONK, {}),
        "do-not-mail": ("email\ntaro@example.com\nnew@example.com\n", {"do_not_mail": True}),
    }[kind]
    path = write(tmp_path, content, "file.csv")
    before = snapshot(db)
    dry = run(db, path, clock, dry_run=True, **options)
    assert dry.dry_run
    assert snapshot(db) == before
    real = run(db, path, clock, **options)
    assert counts(dry) == counts(real)
    assert dry.samples == real.samples
    assert snapshot(db) != before


def test_dry_run_samples_show_the_first_rows_of_each_kind(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    run(db, write(tmp_path, "email,name\nkept@example.com,Old\n", "a.csv"), clock)
    run(db, write(tmp_path, "email\ngone@example.com\n", "b.csv"), clock, do_not_mail=True)
    content = (
        "email,name,status\n"
        + "".join(f"new{i}@example.com,,\n" for i in range(7))
        + "kept@example.com,New,\ngone@example.com,,\nleft@example.com,,unsubscribed\nbad,,\n"
    )
    report = run(db, write(tmp_path, content, "c.csv"), clock, dry_run=True)
    assert report.samples["added"] == [(i + 2, f"new{i}@example.com") for i in range(5)]
    assert report.samples["updated"] == [(9, "kept@example.com")]
    assert report.samples["skipped"] == [(10, "gone@example.com")]
    assert report.samples["suppressed"] == [(11, "left@example.com")]
    assert [(r.line, r.reason[:15]) for r in report.rejected] == [(12, "invalid address")]


# --- suppressions import ------------------------------------------------------------------------


def test_a_plain_do_not_mail_list(db: Database, clock: FrozenClock, tmp_path: Path):
    run(db, write(tmp_path, mailchimp("subscribed", SUBSCRIBED), "s.csv"), clock)
    content = "Taro@Example.com\n\nnot-an-address\nnobody@example.net\ntaro@example.com\n"
    report = run(db, write(tmp_path, content, "stop.txt"), clock, do_not_mail=True)
    assert report.file_format == "address list"
    assert (report.rows, report.suppressed, report.already_suppressed, report.stopped) == (
        4,
        2,
        1,
        1,
    )
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejected] == [(3, "invalid address")]
    assert "taro@example.com" not in audience(db)
    with db.sessions() as session:
        rows = session.execute(
            select(Suppression.email, Suppression.reason, Suppression.push_state)
        ).all()
    assert sorted(rows) == [
        ("nobody@example.net", "manual", "pending"),
        ("taro@example.com", "manual", "pending"),
    ]


def test_a_do_not_mail_csv_with_an_email_column(db: Database, clock: FrozenClock, tmp_path: Path):
    content = "Name,E-mail,Why\nHanako,hanako@example.com,asked\n"
    report = run(db, write(tmp_path, content, "stop.csv"), clock, do_not_mail=True)
    assert report.suppressed == 1
    with pytest.raises(UnreadableFile, match="no email column"):
        run(db, write(tmp_path, "Name,Why\nHanako,asked\n", "bad.csv"), clock, do_not_mail=True)


# --- CSV in: control characters and NUL; CSV out: formulas ----------------------------------------


def test_control_characters_leave_every_field_and_a_nul_rejects_its_row(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    content = (
        "email,name,company\n"
        "hanako@example.com,Ab\x1b[31mcd\x07,株式\x08会社\n"
        "nul@example.com,Ab\x00cd,\n"
        'multi@example.com,"two\nlines",x\x00\n'
        "taro@example.com\x01,Taro,\n"
    )
    report = run(db, write(tmp_path, content, "l.csv"), clock)
    assert {r.line: r.reason for r in report.rejected} == {
        3: "holds a NUL character (a binary or damaged line)",
        5: "holds a NUL character (a binary or damaged line)",
    }
    assert audience(db) == {
        "hanako@example.com": ("Ab[31mcd", "株式会社"),
        "taro@example.com": ("Taro", ""),
    }


# The look for control characters is one pass over the bytes when the encoding allows it.

STORABLE_REMOVES = "".join(
    chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]
)


def test_no_cp932_sequence_without_a_control_byte_decodes_to_a_control_character():
    """Every byte and pair of bytes, decoded strictly as CP932: a control character
    only ever comes from its own byte, which `may_hold_controls` looks for."""
    singles = [bytes([a]) for a in range(256)]
    pairs = [bytes([a, b]) for a in range(0x80, 256) for b in range(256)]
    for sequence in singles + pairs:
        try:
            text = sequence.decode("cp932")
        except UnicodeDecodeError:
            continue
        if not any(byte in csvfile.CONTROL_BYTES for byte in sequence):
            assert is_storable(text), sequence


@settings(max_examples=300)
@given(
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list(STORABLE_REMOVES))),
    st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
)
def test_the_byte_scan_finds_exactly_what_storable_removes(text: str, encoding: str):
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raw = text.encode(encoding, errors="ignore")
        text = raw.decode(encoding)
    handle = io.BytesIO(raw)
    assert csvfile.may_hold_controls(handle, encoding) == (not is_storable(text))
    assert handle.tell() == 0  # put back for the reader


def test_other_encodings_are_always_looked_at_line_by_line():
    assert csvfile.may_hold_controls(io.BytesIO(b"email\nhanako@example.com\n"), "iso8859-1")
    assert csvfile.may_hold_controls(io.BytesIO("email".encode("utf-16")), "utf-16")


def test_a_control_character_far_into_a_file_is_still_found(
    db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(csvfile, "SCAN_BLOCK", 64)  # many blocks, the last one dirty
    rows = [f"reader{i}@example.com,Reader {i},株式会社サンプル" for i in range(200)]
    content = "email,name,company\n" + "\n".join(rows) + "\nlast@example.com,La\x1bst,x\x00\n"
    report = run(db, write(tmp_path, content, "l.csv"), clock)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (202, "holds a NUL character (a binary or damaged line)")
    ]
    assert report.added == 200


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite database to copy (migrating per example is slow)."""
    path = tmp_path_factory.mktemp("template") / "empty.db"
    db = connect(f"sqlite:///{path}")
    migrate.upgrade(db.engine)
    db.dispose()
    return path


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["hanako", "taro", "Hanako", "jiro", "花子"]),
            st.text(
                alphabet=st.sampled_from(list('Ab 山田,"\n\r') + list(STORABLE_REMOVES)), max_size=6
            ),
        ),
        max_size=8,
    ),
    st.sampled_from(["utf-8", "cp932"]),
)
def test_the_fast_path_imports_exactly_as_the_line_by_line_look(
    tmp_path_factory: pytest.TempPathFactory,
    migrated: Path,
    monkeypatch: pytest.MonkeyPatch,
    people: list[tuple[str, str]],
    encoding: str,
):
    """Whatever the file, skipping the per-line look (no control byte found)
    gives what the per-line look gives."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "company"])
    for local, name in people:
        writer.writerow([f"{local}@example.com", name, "会社"])
    path = tmp_path_factory.mktemp("fast") / "l.csv"
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    outcomes = []
    for forced in (False, True):
        copy = tmp_path_factory.mktemp("db") / "c.db"
        shutil.copyfile(migrated, copy)
        db = connect(f"sqlite:///{copy}")
        if forced:
            monkeypatch.setattr(csvfile, "may_hold_controls", lambda raw, encoding: True)
        try:
            report = import_csv(
                db,
                path,
                list_name=LIST,
                actor="U1",
                clock=FrozenClock(),
                options=ImportOptions(encoding=encoding),
            )
        except UnreadableFile as exc:
            outcomes.append(("unreadable", str(exc)))
        else:
            outcomes.append(
                (report.rows, report.added, report.merged, report.rejected, audience(db))
            )
        db.dispose()
        monkeypatch.undo()
    assert outcomes[0] == outcomes[1]


HOSTILE = [
    '=HYPERLINK("http://example.com","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tTab",
    "\rCR",
]


def test_exports_neutralise_formula_cells_and_read_back_unchanged(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "company"])
    for i, text in enumerate(HOSTILE):
        writer.writerow([f"r{i}@example.com", text, text])
    writer.writerow(["-minus@example.com", "Plain", "'quoted"])
    run(db, write(tmp_path, out.getvalue(), "in.csv"), clock)
    run(db, write(tmp_path, "email\n=bad@example.com\n", "stop.txt"), clock, do_not_mail=True)
    done = export_all(db, tmp_path / "out", actor="U_OWNER", clock=clock)
    assert done.files["subscribers-Newsletter.csv"] == len(HOSTILE) + 1
    for name in ("subscribers-Newsletter.csv", "suppressions.csv", "audit.csv"):
        with (tmp_path / "out" / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), (name, cell)
    again = run(db, tmp_path / "out" / "subscribers-Newsletter.csv", clock, list_name="Copy")
    assert again.rejected_count == 0
    assert audience(db, "Copy") == audience(db)


@given(st.text(max_size=20))
def test_restore_undoes_neutralise(text: str):
    assert restore(neutralise(text)) == text or text.startswith("'")


# --- leaving: export DIR, read back -------------------------------------------------------------


@pytest.fixture
def fresh_db(tmp_path: Path) -> Any:
    """A second, empty installation (SQLite, whatever the first one is)."""
    other = connect(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(other.engine)
    yield other
    other.dispose()


def test_export_dir_reads_back_into_a_fresh_installation(
    db: Database, clock: FrozenClock, tmp_path: Path, fresh_db: Database
):
    run(db, write(tmp_path, mailchimp("subscribed", SUBSCRIBED), "s.csv"), clock)
    run(db, write(tmp_path, mailchimp("unsubscribed", UNSUBSCRIBED), "u.csv"), clock)
    run(db, write(tmp_path, mailchimp("cleaned", CLEANED), "c.csv"), clock)
    export_all(db, tmp_path / "leaving", actor="U_OWNER", clock=clock)
    # Any order: the suppressions first, or the list first.
    first = run(fresh_db, tmp_path / "leaving" / "subscribers-Newsletter.csv", clock)
    second = run(fresh_db, tmp_path / "leaving" / "suppressions.csv", clock, do_not_mail=True)
    assert first.rejected_count == second.rejected_count == 0
    assert audience(fresh_db) == audience(db)
    with db.sessions() as session, fresh_db.sessions() as other:
        query = select(Suppression.email, Suppression.reason).order_by(Suppression.email)
        assert other.execute(query).all() == session.execute(query).all()
