"""Preflight: every check has a case that trips it, and clean issues pass."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, insert, update

from bot.clock import FrozenClock
from bot.preflight import PersonalDataCache, PersonalDataIndex, Severity, disguise, preflight
from bot.rendering import CompiledIssue, Footer, compile_issue
from bot.subscribers import get_or_create_list, import_csv
from storage import changes
from storage.db import Database, connect
from storage.models import Subscriber, UnsubscribeRequest
from tests.fixtures.database import fresh_database_url

SENDER = "news@example.com"
FOOTER = Footer("Countersign News", "〒100-0001 東京都千代田区見本町1-2-3", SENDER)
INDEX = PersonalDataIndex.from_values(
    [
        ("name", "山田花子"),
        ("company", "株式会社サンプル"),
        ("address", "hanako@example.com"),
        ("name", "Alice Example"),
        (
            "company",
            "Acme",
        ),  # too short to match as ASCII (fewer than 4 letters? no: 4) — see below
    ]
)


def check(
    body: str, subject: str = "12月号", index: PersonalDataIndex = INDEX
) -> dict[str, Severity]:
    return run(compile_(body, subject), body, index)


def compile_(body: str, subject: str = "x") -> CompiledIssue:
    return compile_issue(
        subject, body, sender=SENDER, stream="broadcast", list_name="Newsletter", footer=FOOTER
    )


def run(
    compiled: CompiledIssue, body: str, index: PersonalDataIndex = INDEX
) -> dict[str, Severity]:
    findings = preflight(
        compiled,
        body_source=body,
        sender_address=SENDER,
        index=index,
        list_name="Newsletter",
        footer=FOOTER,
    )
    return {f.code: f.severity for f in findings}


def test_a_clean_issue_has_no_findings():
    assert check("今月のお知らせです。{{ subscriber.name }}様、いつもありがとうございます。") == {}


def test_empty_subject_blocks():
    compiled = compile_("本文")
    assert (
        run(dataclasses.replace(compiled, subject=" "), "本文")["subject_empty"]
        is Severity.BLOCKING
    )


def test_multiline_subject_blocks():
    assert check("本文", subject="一行目\n二行目")["subject_multiline"] is Severity.BLOCKING


def test_missing_unsubscribe_link_blocks():
    compiled = compile_("本文")
    stripped = dataclasses.replace(
        compiled, html=compiled.html.replace("{{ unsubscribe_url }}", "https://example.com/")
    )
    assert run(stripped, "本文")["unsubscribe_missing"] is Severity.BLOCKING


@pytest.mark.parametrize("placeholder", ["*|FNAME|*", "%%first_name%%", "[[name]]", "{$name}"])
def test_placeholders_of_other_mail_systems_block(placeholder: str):
    assert check(f"こんにちは {placeholder} 様")["unresolved_variables"] is Severity.BLOCKING


@pytest.mark.parametrize(
    "stored", ["{{ '{{' }} name }}", "{{ 9 ** 99999999 }}", "{{ subscriber.name|default('山田') }}"]
)
def test_a_stored_version_beyond_the_template_language_blocks_before_it_renders(stored: str):
    """A version saved before the language was narrowed is checked again, before any
    render (which could stall on `9 ** 99999999`)."""
    compiled = compile_("本文")
    broken = dataclasses.replace(compiled, html=compiled.html + stored)
    assert run(broken, "本文")["template_error"] is Severity.BLOCKING


def test_template_that_fails_to_render_blocks():
    compiled = compile_("本文")
    broken = dataclasses.replace(compiled, text="{{ nowhere.name }}")
    assert run(broken, "本文")["template_error"] is Severity.BLOCKING


def test_large_message_warns():
    assert check("長い本文。" * 8_000)["size_large"] is Severity.WARNING


def test_http_links_warn():
    assert check("[site](http://example.com/)")["insecure_link"] is Severity.WARNING


def test_email_addresses_other_than_the_senders_block():
    assert "personal_email" not in check(f"ご質問は {SENDER} まで")
    assert check("連絡先 someone@example.org")["personal_email"] is Severity.BLOCKING


@pytest.mark.parametrize(
    "phone",
    [
        "03-1234-5678",
        "090-1234-5678",
        "０９０－１２３４－５６７８",
        "+81 3 1234 5678",
        "+1 415 555 0100",
        "(03) 1234-5678",
        "09012345678",
    ],
)
def test_phone_numbers_block(phone: str):
    assert check(f"お電話は {phone} へ")["personal_phone"] is Severity.BLOCKING


@pytest.mark.parametrize("text", ["2026-11-27", "第12号", "価格 1,000円", "ISBN 978-4-00-000000-0"])
def test_dates_and_ordinary_numbers_are_not_phone_numbers(text: str):
    assert "personal_phone" not in check(text)


@pytest.mark.parametrize(
    "text", ["山田花子さんから", "株式会社サンプル様", "HANAKO@EXAMPLE.COM", "alice example"]
)
def test_subscriber_data_in_the_body_blocks(text: str):
    assert check(f"お知らせ: {text}")["subscriber_data"] is Severity.BLOCKING


def test_subscriber_data_in_the_subject_blocks():
    assert check("本文", subject="山田花子様の件")["subscriber_data"] is Severity.BLOCKING


def test_the_recipients_own_fields_via_variables_are_not_findings():
    assert "subscriber_data" not in check("{{ subscriber.name }} ({{ subscriber.company }})")


def test_ascii_names_next_to_japanese_text_are_found():
    """Found by the property test below: Japanese has no spaces between words."""
    assert check("本日はAlice Example様からのお便りです")["subscriber_data"] is Severity.BLOCKING


def test_ascii_names_match_whole_words_only():
    assert "subscriber_data" not in check("Alice Examples and XAlice Example")


def test_findings_params_never_quote_the_personal_data():
    body = "山田花子 hanako@example.com 03-1234-5678"
    findings = preflight(
        compile_(body),
        body_source=body,
        sender_address=SENDER,
        index=INDEX,
        list_name="Newsletter",
        footer=FOOTER,
    )
    for finding in findings:
        shown = " ".join(str(v) for v in finding.params.values())
        assert "山田" not in shown and "hanako" not in shown and "1234" not in shown


@settings(max_examples=50, deadline=None)
@given(
    st.text(alphabet="山田花子株式会社サンプル太郎 abc", min_size=2, max_size=6).filter(
        lambda s: s.strip()
    )
)
def test_any_indexed_name_is_found_inside_japanese_prose(name: str):
    index = PersonalDataIndex.from_values([("name", name.strip())])
    if disguise.key(disguise.fold(name.strip())) is None:
        return  # too short to be a needle as written (its reading may be one: not here)
    assert [m for m in index.find(f"本日は{name.strip()}についてです") if m[0] == "name"]


def add_person(db: Database, clock: FrozenClock, email: str, name: str, company: str = "") -> int:
    now = clock.now()
    with db.transaction() as session:
        lst = get_or_create_list(session, "Newsletter", now)
        person = Subscriber(
            list_id=lst.id,
            email=email,
            name=name,
            company=company,
            status="active",
            created_at=now,
            updated_at=now,
        )
        session.add(person)
        session.flush()
        return person.id


def add_request(db: Database, clock: FrozenClock, email: str, name: str, company: str) -> None:
    with db.transaction() as session:
        session.add(
            UnsubscribeRequest(
                email=email,
                email_hash=email.encode().hex().ljust(64, "0")[:64],
                given_name=name,
                given_company=company,
                note="",
                actor="U1",
                created_at=clock.now(),
            )
        )


def test_cache_notices_when_subscribers_or_requests_change(db: Database, clock: FrozenClock):
    cache = PersonalDataCache()
    add_person(db, clock, "a@example.com", "佐藤太郎")
    first = cache.get(db)
    assert first.find("佐藤太郎です")
    assert cache.get(db) is first  # nothing changed: the same index
    add_request(db, clock, "b@example.com", "鈴木一郎", "有限会社テスト")
    second = cache.get(db)
    assert second is not first
    assert second.find("鈴木一郎さん") and second.find("有限会社テストより")


def test_cache_forgets_a_forgotten_person(db: Database, clock: FrozenClock):
    """Erasing fields in place (as `subscribers forget` does) must rebuild the index,
    even when the clock has not moved."""
    cache = PersonalDataCache()
    person_id = add_person(db, clock, "c@example.com", "高橋次郎")
    assert cache.get(db).find("高橋次郎です")
    with db.transaction() as session:
        row = session.get(Subscriber, person_id)
        assert row is not None
        row.email, row.name = None, ""
    cache.get(db)  # starts a rebuild in the background (this check does not wait for it)
    assert cache.settle(30)
    assert cache.get(db).find("高橋次郎です") == []


def test_cache_adds_new_people_without_rebuilding_the_automaton(db: Database, clock: FrozenClock):
    cache = PersonalDataCache()
    add_person(db, clock, "d@example.com", "伊藤一郎")
    first = cache.get(db)
    add_person(db, clock, "e@example.com", "中村さくら", "Northwind Trading")
    add_request(db, clock, "f@example.com", "渡辺翔太", "")
    second = cache.get(db)
    assert second.tables == first.tables  # no rebuild for a few new rows
    text = "伊藤一郎と中村さくら、northwind trading、渡辺翔太、e@example.com"
    assert {needle for _, needle in second.find(text)} == {
        "伊藤一郎",
        "中村さくら",
        "northwind trading",
        "渡辺翔太",
        "e@example.com",
    }
    assert second.find("Northwind Tradings") == []  # whole words only for ASCII, in extra too


def test_cache_forgets_a_deleted_person(db: Database, clock: FrozenClock):
    cache = PersonalDataCache()
    person_id = add_person(db, clock, "g@example.com", "木村美咲")
    assert cache.get(db).find("木村美咲です")
    with db.transaction() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == person_id))
    cache.get(db)
    assert cache.settle(30)
    assert cache.get(db).find("木村美咲です") == []


class HeldRebuild(PersonalDataCache):
    """A cache whose background rebuild, once it has read its snapshot, waits until
    the test lets it build: whatever the test does meanwhile happens during a rebuild."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot_read = threading.Event()
        self.go_on = threading.Event()

    def _build(self, texts: dict[str, list[str]]) -> PersonalDataIndex:
        self.snapshot_read.set()
        assert self.go_on.wait(30)
        return super()._build(texts)

    def get_without_waiting(self, db: Database) -> PersonalDataIndex:
        """`get`, which must answer while the rebuild is held (or the test fails)."""
        answer: list[PersonalDataIndex] = []
        checker = threading.Thread(target=lambda: answer.append(self.get(db)), daemon=True)
        checker.start()
        checker.join(timeout=20)
        assert answer, "a check waited for the rebuild"
        if not self._idle.is_set():  # it started one: let it read its snapshot first
            assert self.snapshot_read.wait(30)
        return answer[0]

    def let_through(self) -> None:
        """Let a held rebuild build, and wait until it is done."""
        self.go_on.set()
        assert self.settle(30)
        self.go_on.clear()
        self.snapshot_read.clear()


def test_a_subscriber_added_during_a_rebuild_is_caught_by_the_next_check(
    db: Database, clock: FrozenClock
):
    cache = HeldRebuild()
    gone = add_person(db, clock, "gone@example.com", "木村美咲")
    add_person(db, clock, "stays@example.com", "佐藤太郎")
    assert cache.get(db).find("木村美咲です")
    with db.transaction() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == gone))
    cache.get_without_waiting(db)  # the deletion: a rebuild starts in the background
    assert cache.snapshot_read.wait(30)  # it has read its snapshot, without the newcomer
    add_person(db, clock, "new@example.com", "山口 健太")
    during = cache.get_without_waiting(db)  # the old automata plus the change
    assert during.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    assert during.find("佐藤太郎です")
    cache.go_on.set()
    assert cache.settle(30)
    after = cache.get(db)  # the fresh index (without the newcomer) and the change since
    assert after.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    assert after.find("佐藤太郎です") and after.find("木村美咲です") == []


def test_many_changes_during_a_rebuild_are_indexed_apart(db: Database, clock: FrozenClock):
    cache = HeldRebuild()
    cache.MAX_EXTRA, cache.MAX_LAYER = 2, 6
    add_person(db, clock, "a@example.com", "佐藤太郎")
    first = cache.get(db)
    for i, name in enumerate(["伊藤 純一郎", "本間 新平", "大野 智", "服部 半蔵"]):
        add_person(db, clock, f"n{i}@example.com", name)
    during = cache.get_without_waiting(db)  # four rows: a layer, and a rebuild started
    assert during.tables == first.tables and len(during.layers) == 1
    assert {n for _, n in during.find("Homma Shimpei, Ohno Satoshi, 服部半蔵, 佐藤太郎")} == {
        "本間 新平",
        "大野 智",
        "服部 半蔵",
        "佐藤太郎",
    }
    for i in range(7):  # more than MAX_LAYER: this check builds the index itself
        add_person(db, clock, f"m{i}@example.com", f"追加 {'一二三四五六七'[i]}郎")
    cache.go_on.set()
    now = cache.get(db)
    assert now.layers == () and now.find("追加 七郎さん") and now.find("Itoh Junichiro")
    assert cache.settle(30)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.sampled_from(["add", "rename", "delete", "forget", "check", "build"]),
        min_size=4,
        max_size=16,
    )
)
@example(steps=["delete", "check", "add", "check"])  # the interleaving of the issue
def test_no_check_misses_a_change_whatever_happens_during_rebuilds(
    database_template: str, tmp_path_factory: pytest.TempPathFactory, steps: list[str]
):
    """Adds, renames, deletions and erasures, checks, and rebuilds let through in any
    order: every check knows every name on the list as it is when the check looks, and
    once the rebuilds are done, nobody deleted or forgotten is found."""
    db = connect(fresh_database_url(database_template, tmp_path_factory.mktemp("steps")))
    clock = FrozenClock()
    cache = HeldRebuild()
    names = iter(
        f"{family} {given}"
        for family in ["山田", "中村", "佐藤", "鈴木", "高橋"]
        for given in ["健太", "花子", "結衣", "大輝", "美咲", "拓海"]
    )
    living: dict[int, str] = {}
    gone: set[str] = set()  # deleted or forgotten (a renamed row's old name may stay)
    serial = itertools.count(1)
    first = next(names)
    living[add_person(db, clock, "p0@example.com", first)] = first
    cache.get(db)
    try:
        for step in [*steps, "build", "check", "build", "check"]:
            if step == "add":
                name = next(names)
                living[add_person(db, clock, f"p{next(serial)}@example.com", name)] = name
            elif step in ("rename", "delete", "forget") and living:
                person_id = min(living)
                with db.transaction() as session:
                    if step == "delete":
                        session.execute(delete(Subscriber).where(Subscriber.id == person_id))
                    else:
                        row = session.get(Subscriber, person_id)
                        assert row is not None
                        if step == "forget":
                            row.email, row.name = None, ""
                        else:
                            row.name = next(names)
                old = living.pop(person_id)
                if step != "rename":
                    gone.add(old)
                else:
                    with db.sessions() as session:
                        row = session.get(Subscriber, person_id)
                        assert row is not None
                        living[person_id] = row.name
            elif step == "check":
                index = cache.get_without_waiting(db)
                for name in living.values():
                    assert index.find(f"本日は{name}さんの件です"), name
            elif step == "build":  # let a held rebuild through, if one is running
                cache.let_through()
        for _ in range(4):  # until a refresh starts no rebuild (a started one is held)
            index = cache.get(db)
            if cache.settle(0):
                break
            cache.let_through()
        else:
            raise AssertionError("every refresh started another rebuild")
        assert [name for name in gone - set(living.values()) if index.find(name)] == []
    finally:
        cache.go_on.set()
        cache.settle(30)
        db.dispose()


def test_a_change_committed_after_a_later_one_is_never_missed(db: Database, clock: FrozenClock):
    """Item 7: an import stamps its rows with its start time and commits last; an edit
    begun later commits first, and the index is refreshed in between. The refresh
    after the import's commit must know the imported names (on PostgreSQL the edit
    really does commit first; on SQLite it waits for the import's write lock)."""
    cache = PersonalDataCache()
    edited = add_person(db, clock, "h@example.com", "井上直樹")
    cache.get(db)
    started_at = clock.now() - timedelta(hours=1)  # the import's start time, as it stamps
    flushed, release = threading.Event(), threading.Event()

    def late_import() -> None:
        with db.transaction() as session:
            lst = get_or_create_list(session, "Newsletter", started_at)
            session.add(
                Subscriber(
                    list_id=lst.id,
                    email="late@example.com",
                    name="遅延 花子",
                    company="",
                    status="active",
                    created_at=started_at,
                    updated_at=started_at,
                )
            )
            session.flush()
            flushed.set()
            assert release.wait(30)

    def later_edit() -> None:
        with db.transaction() as session:
            row = session.get(Subscriber, edited)
            assert row is not None
            row.name, row.updated_at = "井上恵子", clock.now()

    importer = threading.Thread(target=late_import)
    importer.start()
    assert flushed.wait(30)
    editor = threading.Thread(target=later_edit)
    editor.start()
    editor.join(timeout=1.0)
    between: list[PersonalDataIndex] = []
    refresher = threading.Thread(target=lambda: between.append(cache.get(db)))
    refresher.start()
    refresher.join(timeout=1.0)
    if not db.is_sqlite:  # the interleaving happened: the refresh saw the edit only
        assert not editor.is_alive() and between
        assert between[0].find("井上恵子") and not between[0].find("遅延花子")
    release.set()
    for thread in (importer, editor, refresher):
        thread.join(timeout=30)
    index = cache.get(db)
    assert index.find("遅延花子さんへ") and index.find("井上恵子さんへ")
    assert index.find("late@example.com")


def test_values_already_in_the_index_give_back_the_same_index(db: Database, clock: FrozenClock):
    """On PostgreSQL a transaction open elsewhere on the server keeps the change
    horizon low, so the cache is handed rows it has seen: nothing new, no new index."""
    add_person(db, clock, "g@example.com", "小林真一", "Northwind Trading")
    index = PersonalDataCache().get(db)
    seen = [("name", "小林真一"), ("company", "Northwind Trading"), ("address", "g@example.com")]
    assert index.with_extra(seen) is index
    grown = index.with_extra([("name", "山本美咲")])
    assert grown is not index and grown.find("山本美咲さん")
    assert grown.with_extra([("name", "山本美咲")]) is grown


def write_list(path, rows: list[tuple[str, str, str]]) -> None:
    lines = ["email,name,company", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_cache_notices_an_imports_rows(db: Database, clock: FrozenClock, tmp_path):
    """An import stamps its new subscribers itself, with one stamp (no trigger
    per row): the next refresh reads every one of them, and only once."""
    cache = PersonalDataCache()
    add_person(db, clock, "i@example.com", "小林健太")
    first = cache.get(db)
    path = tmp_path / "list.csv"
    write_list(
        path,
        [("j@example.com", "松本陽菜", "Northwind Trading"), ("k@example.com", "森田美咲", "")],
    )
    assert import_csv(db, path, list_name="Newsletter", actor="U1", clock=clock).added == 2
    second = cache.get(db)
    assert second.tables == first.tables  # read from the stamps, not rebuilt
    found = {
        needle for _, needle in second.find("松本陽菜、森田美咲、northwind trading、k@example.com")
    }
    assert found == {"松本陽菜", "森田美咲", "northwind trading", "k@example.com"}
    assert cache.get(db) is second  # the counter moved past the import: nothing to read again
    write_list(path, [("l@example.com", "石川大輔", "")])
    assert import_csv(db, path, list_name="Newsletter", actor="U1", clock=clock).added == 1
    third = cache.get(db)
    assert third.find("石川大輔さん") and third.find("松本陽菜さん") and third.find("小林健太さん")


def test_an_import_committed_after_a_refresh_began_is_never_missed(
    db: Database, clock: FrozenClock, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """The import's rows are written with their stamp, and the transaction stays
    open while the index is refreshed; the refresh after the commit must know
    them (on PostgreSQL the refresh really runs in between; on SQLite it waits
    for the import's write lock)."""
    cache = PersonalDataCache()
    add_person(db, clock, "m@example.com", "岡田直人")
    cache.get(db)
    written, release = threading.Event(), threading.Event()
    real = changes.bulk_stamp

    @contextmanager
    def slow_bulk_stamp(connection: Connection) -> Iterator[int]:
        with real(connection) as stamp:
            yield stamp
            written.set()
            assert release.wait(30)

    monkeypatch.setattr(changes, "bulk_stamp", slow_bulk_stamp)
    path = tmp_path / "late.csv"
    write_list(
        path, [("late2@example.com", "遅延 次郎", ""), ("late3@example.com", "前田 優子", "")]
    )
    reports = []
    importer = threading.Thread(
        target=lambda: reports.append(
            import_csv(db, path, list_name="Newsletter", actor="U1", clock=clock)
        )
    )
    importer.start()
    assert written.wait(30)
    between: list[PersonalDataIndex] = []
    refresher = threading.Thread(target=lambda: between.append(cache.get(db)))
    refresher.start()
    refresher.join(timeout=1.0)
    if not db.is_sqlite:  # the interleaving happened: the refresh saw the list before the import
        assert between and between[0].find("岡田直人") and not between[0].find("遅延次郎")
    release.set()
    for thread in (importer, refresher):
        thread.join(timeout=30)
    assert reports and reports[0].added == 2
    index = cache.get(db)
    assert (
        index.find("遅延次郎さんへ")
        and index.find("前田優子さんへ")
        and index.find("late3@example.com")
    )


_SERIAL = itertools.count()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset=st.integers(-3, 3), edit=st.booleans())
def test_no_stamp_a_writer_supplies_hides_its_change(
    db: Database, clock: FrozenClock, offset: int, edit: bool
):
    """Whatever `change_seq` a writer sets itself (a stale copy, zero, the next
    stamp, a later one), the cache notices the row: a stamp below the one no
    reader has passed is replaced by the trigger, any other is read as it is.
    The writer here never bumps the counter, as a careless one would not."""
    n = next(_SERIAL)
    email, name = f"stamp{n}@example.com", f"渡部{'一二三四五六七八九十'[n % 10]}郎{n}"
    person = add_person(db, clock, email, "") if edit else None
    cache = PersonalDataCache()
    assert not cache.get(db).find(f"{name}さん")
    with db.transaction() as session:
        connection = session.connection()
        unread = changes.unread_stamp(connection)
        stamp = unread + offset
        if person is not None:
            connection.execute(
                update(Subscriber)
                .where(Subscriber.id == person)
                .values(name=name, change_seq=stamp)
            )
        else:
            now = clock.now()
            lst = get_or_create_list(session, "Newsletter", now)
            person = connection.execute(
                insert(Subscriber)
                .values(
                    list_id=lst.id,
                    email=email,
                    name=name,
                    company="",
                    status="active",
                    created_at=now,
                    updated_at=now,
                    change_seq=stamp,
                )
                .returning(Subscriber.id)
            ).scalar_one()
    with db.sessions() as session:
        row = session.get(Subscriber, person)
        assert row is not None
        assert row.change_seq == (stamp if offset >= 0 else unread)
    assert cache.get(db).find(f"{name}さん")
