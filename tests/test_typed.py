"""Typed text is stored without control characters, on SQLite and PostgreSQL
alike (PostgreSQL refuses NUL in text: found by a property test on CI)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot import approvals, issues, unsubscribe
from bot.clock import FrozenClock
from bot.typed import storable
from storage.db import Database
from storage.models import ApprovalRequest, IssueVersion, UnsubscribeRequest
from tests.fixtures.desk import APPROVER, EDITOR, build_desk


@given(st.text())
def test_storable_keeps_everything_but_control_characters(text: str):
    cleaned = storable(text)
    assert not any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in cleaned)
    assert storable(cleaned) == cleaned
    assert [c for c in text if c.isprintable() or c in "\t\n\r"] == [
        c for c in cleaned if c.isprintable() or c in "\t\n\r"
    ]


@given(st.text(alphabet=st.one_of(st.integers(0xD800, 0xDFFF).map(chr), st.characters())))
def test_storable_text_can_always_be_written_as_utf8(text: str):
    # A lone surrogate (JSON spells it "\\ud800") can never be written as UTF-8:
    # not to PostgreSQL, not into an email, not into a Postmark request.
    cleaned = storable(text)
    assert cleaned.encode("utf-8").decode("utf-8") == cleaned
    assert cleaned == storable("".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF))


def test_nul_and_controls_in_typed_text_are_dropped_before_storing(
    db: Database, clock: FrozenClock
):
    desk = build_desk(db, clock)
    saved = issues.create(desk, actor=EDITOR, subject="件名\x00\x07", body="本文\x00です\x1b")
    approvals.submit(desk, saved.issue_id, actor=EDITOR, override_reason="理由\x00")
    unsubscribe.record(
        desk,
        unsubscribe.Request(
            email="reader@example.com\x00", name="山田\x00花子", company="\x01社", note="電話\x00で"
        ),
        actor=APPROVER,
    )
    with db.sessions() as session:
        version = session.execute(select(IssueVersion)).scalar_one()
        request = session.execute(select(UnsubscribeRequest)).scalar_one()
        approval = session.execute(select(ApprovalRequest)).scalar_one()
    assert (version.subject, version.body_markdown) == ("件名", "本文です")
    assert (request.email, request.given_name, request.given_company, request.note) == (
        "reader@example.com",
        "山田花子",
        "社",
        "電話で",
    )
    assert approval.override_reason is None  # nothing blocked, so nothing was overridden


def test_searching_for_control_characters_is_a_plain_search(db: Database, clock: FrozenClock):
    from bot import suppressions
    from bot.refusal import Refusal

    desk = build_desk(db, clock)
    try:
        found = suppressions.find(desk, "山田\x00花子", actor=APPROVER)
    except Refusal as refusal:  # too short once cleaned is a fine answer too
        assert refusal.code
    else:
        assert found is not None
