"""bot.unsubscribe and bot.suppressions (push, forget, resubscribe, find) against
a real database and the Postmark stand-in over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import suppressions, unsubscribe
from bot.addresses import address_hash
from bot.clock import FrozenClock
from bot.desk import Desk
from bot.installation import address_salt
from bot.refusal import Refusal
from bot.standins.postmark import PostmarkStandIn
from bot.subscribers import get_or_create_list, import_csv
from storage.db import Database
from storage.models import (
    ALL_LISTS,
    AuditEvent,
    PushState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    UnsubscribeRequest,
)
from tests.fixtures.desk import APPROVER, EDITOR, FixedDirectory, build_desk

SUPPRESSIONS_ENDPOINT = "/message-streams/{stream}/suppressions"


def make_desk(db: Database, clock: FrozenClock, postmark: PostmarkStandIn) -> Desk:
    return build_desk(
        db,
        clock,
        directory=FixedDirectory(frozenset({APPROVER}), emails=False),
        POSTMARK_SERVER_TOKEN=postmark.server_token or "standin-server-token",
        POSTMARK_API_URL=postmark.url,
        NEWSLETTER_NAME="ナビゲート通信",
        NEWSLETTER_FROM="Navigate <news@example.com>",
        APPROVERS=APPROVER,
    )


def add_subscriber(
    desk: Desk, email: str, *, list_name: str = "Newsletter", name: str = "", company: str = ""
) -> int:
    now = desk.clock.now()
    with desk.db.transaction() as session:
        mailing_list = get_or_create_list(session, list_name, now)
        row = Subscriber(
            list_id=mailing_list.id,
            email=email,
            name=name,
            company=company,
            status=SubscriberStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def statuses(desk: Desk, email: str) -> list[str]:
    with desk.db.sessions() as session:
        return sorted(
            session.execute(select(Subscriber.status).where(Subscriber.email == email)).scalars()
        )


def table_counts(desk: Desk) -> tuple[int, ...]:
    with desk.db.sessions() as session:
        return tuple(
            int(session.execute(select(func.count()).select_from(model)).scalar_one())
            for model in (Suppression, UnsubscribeRequest, AuditEvent)
        )


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` (for background threads) until true or timed out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def desk(db: Database, clock: FrozenClock, postmark: PostmarkStandIn) -> Desk:
    return make_desk(db, clock, postmark)


# --- processing ------------------------------------------------------------------------


def test_unsubscribes_on_every_list_records_and_pushes(desk: Desk, postmark: PostmarkStandIn):
    add_subscriber(desk, "hanako@example.jp", name="山田花子", company="山田商事")
    add_subscriber(desk, "hanako@example.jp", list_name="Seminars")
    add_subscriber(desk, "taro@example.jp")

    outcome = unsubscribe.process(
        desk,
        unsubscribe.Request(
            email="  Hanako@Example.JP ", name="山田花子", company="山田商事", note="電話で依頼"
        ),
        actor=EDITOR,
    )

    assert outcome.email == "hanako@example.jp"
    assert outcome.recorded.newly_suppressed and outcome.recorded.unsubscribed_now == 2
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed", "unsubscribed"]
    assert statuses(desk, "taro@example.jp") == ["active"]
    with desk.db.sessions() as session:
        row = session.execute(select(Suppression)).scalar_one()
        assert (row.scope, row.origin, row.actor, row.note) == ("*", "slack", EDITOR, "電話で依頼")
        assert row.push_state == PushState.PUSHED and row.push_attempts == 1
        kept = session.execute(select(UnsubscribeRequest)).scalar_one()
        assert (kept.given_name, kept.given_company, kept.note) == (
            "山田花子",
            "山田商事",
            "電話で依頼",
        )
        trail = json.dumps(
            [(e.subject, e.detail) for e in session.execute(select(AuditEvent)).scalars()],
            ensure_ascii=False,
        )
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")
    assert outcome.push_state == PushState.PUSHED
    assert outcome.confirmation == unsubscribe.ConfirmationState.NOT_REQUESTED
    assert postmark.messages() == []  # nothing was sent to anyone
    for secret in ("hanako@example.jp", "山田花子", "山田商事", "電話で依頼"):
        assert secret not in trail


def test_a_named_list_only_and_kept_local(desk: Desk, postmark: PostmarkStandIn):
    add_subscriber(desk, "hanako@example.jp")
    add_subscriber(desk, "hanako@example.jp", list_name="Seminars")
    outcome = unsubscribe.process(
        desk, unsubscribe.Request(email="hanako@example.jp", list_name="Seminars"), actor=EDITOR
    )
    assert outcome.recorded.scope == "Seminars"
    assert outcome.push_state == PushState.NOT_NEEDED
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")
    with desk.db.sessions() as session:
        rows = session.execute(
            select(Subscriber.status).join(Subscriber.mailing_list).order_by(Subscriber.list_id)
        ).scalars()
        assert list(rows) == ["active", "unsubscribed"]


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "hanako", "hanako@", "@example.jp", "a@b@example.jp", "山田 <x@y>", "x" * 300],
)
def test_an_invalid_address_is_refused_and_changes_nothing(desk: Desk, raw: str):
    add_subscriber(desk, "hanako@example.jp")
    before = table_counts(desk)
    with pytest.raises(Refusal) as refused:
        unsubscribe.process(
            desk, unsubscribe.Request(email=raw, name="山田", confirm=True), actor=EDITOR
        )
    assert refused.value.code == "invalid_address"
    assert table_counts(desk) == before
    assert statuses(desk, "hanako@example.jp") == ["active"]


def test_an_unknown_list_is_refused_and_changes_nothing(desk: Desk):
    before = table_counts(desk)
    with pytest.raises(Refusal) as refused:
        unsubscribe.process(
            desk, unsubscribe.Request(email="a@example.jp", list_name="Nope"), actor=EDITOR
        )
    assert refused.value.code == "unknown_list"
    assert table_counts(desk) == before


def test_an_address_on_no_list_is_suppressed_so_no_import_adds_it(desk: Desk, tmp_path: Path):
    outcome = unsubscribe.process(
        desk, unsubscribe.Request(email="stranger@example.jp"), actor=EDITOR
    )
    assert outcome.recorded.subscriptions == 0 and outcome.recorded.newly_suppressed
    csv = tmp_path / "list.csv"
    csv.write_text("email,name\nstranger@example.jp,誰か\nnew@example.jp,新人\n", encoding="utf-8")
    report = import_csv(desk.db, csv, list_name="Newsletter", actor="cli", clock=desk.clock)
    assert (report.added, report.skipped_suppressed) == (1, 1)
    assert statuses(desk, "stranger@example.jp") == []


def test_a_repeated_request_changes_nothing_and_confirms_once(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp")
    request = unsubscribe.Request(email="hanako@example.jp", confirm=True, note="一回目")
    first = unsubscribe.process(desk, request, actor=EDITOR)
    second = unsubscribe.process(desk, request, actor=APPROVER)
    assert first.confirmation == unsubscribe.ConfirmationState.SENT
    assert second.confirmation == unsubscribe.ConfirmationState.ALREADY_SENT
    assert not second.recorded.newly_suppressed and second.recorded.unsubscribed_now == 0
    with desk.db.sessions() as session:
        assert session.execute(select(func.count(Suppression.id))).scalar_one() == 1
    assert len(postmark.messages()) == 1
    assert len(postmark.suppressions("broadcast")) == 1


def test_the_confirmation_is_fixed_transactional_and_to_that_address_only(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp", name="山田花子", company="山田商事")
    add_subscriber(desk, "taro@example.jp")
    unsubscribe.process(
        desk,
        unsubscribe.Request(
            email="hanako@example.jp",
            name="{{ subscriber.name }} 山田花子",
            company="<b>山田商事</b>",
            note="secret note",
            confirm=True,
        ),
        actor=EDITOR,
    )
    [message] = postmark.messages()
    expected = unsubscribe.confirmation_message(desk.settings)
    assert message.MessageStream == "outbound"
    assert message.Recipients == ("hanako@example.jp",)
    assert (message.Subject, message.TextBody, message.HtmlBody) == (
        expected.subject,
        expected.text,
        expected.html,
    )
    assert "ナビゲート通信" in (message.TextBody or "")
    for typed in ("山田花子", "山田商事", "secret note", "subscriber.name", "hanako@"):
        assert typed not in f"{message.Subject}{message.TextBody}{message.HtmlBody}"
    assert postmark.messages("broadcast") == []


def test_a_confirmation_postmark_refused_may_be_asked_for_again(
    desk: Desk, postmark: PostmarkStandIn
):
    postmark.faults.script(["429"], endpoint="/email")
    request = unsubscribe.Request(email="hanako@example.jp", confirm=True)
    first = unsubscribe.process(desk, request, actor=EDITOR)
    assert first.confirmation == unsubscribe.ConfirmationState.FAILED
    assert first.push_state == PushState.PUSHED  # the unsubscribe itself is done
    second = unsubscribe.process(desk, request, actor=EDITOR)
    assert second.confirmation == unsubscribe.ConfirmationState.SENT
    assert len(postmark.messages_to("hanako@example.jp")) == 1


def test_a_confirmation_of_unknown_fate_is_never_sent_twice(desk: Desk, postmark: PostmarkStandIn):
    postmark.faults.script(["reply_lost"], endpoint="/email")
    request = unsubscribe.Request(email="hanako@example.jp", confirm=True)
    first = unsubscribe.process(desk, request, actor=EDITOR)
    assert first.confirmation == unsubscribe.ConfirmationState.UNCERTAIN
    second = unsubscribe.process(desk, request, actor=EDITOR)
    assert second.confirmation == unsubscribe.ConfirmationState.ALREADY_SENT
    assert len(postmark.messages_to("hanako@example.jp")) == 1  # the lost-reply one


# --- pushing to Postmark ---------------------------------------------------------------


def test_postmark_unreachable_the_local_suppression_holds_and_the_push_is_retried(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp")
    postmark.faults.script(["503", "reset", "429"], endpoint=SUPPRESSIONS_ENDPOINT)
    outcome = unsubscribe.process(
        desk, unsubscribe.Request(email="hanako@example.jp"), actor=EDITOR
    )
    assert outcome.push_state == PushState.PENDING
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]  # holds at once
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")
    with desk.db.sessions() as session:
        counts = suppressions.push_counts(session)
    assert counts.pending == 1 and counts.most_attempts == 1 and "FateUnknown" in counts.last_error

    assert suppressions.push_pending(desk) == 0  # reset
    assert suppressions.push_pending(desk) == 0  # 429
    assert suppressions.push_pending(desk) == 1
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")
    with desk.db.sessions() as session:
        row = session.execute(select(Suppression)).scalar_one()
        assert (row.push_state, row.push_attempts, row.push_error) == ("pushed", 4, "")
    assert suppressions.push_pending(desk) == 0  # nothing left


def test_push_pending_sends_fifty_at_a_time(desk: Desk, postmark: PostmarkStandIn):
    now = desk.clock.now()
    with desk.db.transaction() as session:
        for n in range(120):
            suppressions.add(
                session,
                email=f"r{n}@example.jp",
                reason=SuppressionReason.UNSUBSCRIBED,
                origin=suppressions.SuppressionOrigin.CLI,
                actor="cli",
                at=now,
            )
    postmark.faults.script([None, "503"], endpoint=SUPPRESSIONS_ENDPOINT)
    assert suppressions.push_pending(desk) == 50  # the second chunk failed: stop there
    assert suppressions.push_pending(desk) == 70
    assert len(postmark.suppressions("broadcast")) == 120
    assert postmark.faults.calls(SUPPRESSIONS_ENDPOINT) == 4  # 50 ok, 50 failed; 50, 20


def test_the_push_duty_retries_with_backoff_until_postmark_has_it(
    desk: Desk, postmark: PostmarkStandIn
):
    postmark.faults.script(["503"] * 3, endpoint=SUPPRESSIONS_ENDPOINT)
    unsubscribe.process(desk, unsubscribe.Request(email="hanako@example.jp"), actor=EDITOR)
    duty = suppressions.PushDuty(desk, idle=30.0, base=0.01, cap=0.05)
    delays = []
    for _ in range(3):
        duty.run_once()
        delays.append(duty.delay())
    assert duty.failures == 0 and delays[-1] == 30.0
    assert 0.009 <= delays[0] <= 0.011 and 0.018 <= delays[1] <= 0.022
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")

    # And as a thread: a new pending suppression is pushed once woken.
    postmark.faults.script(["503"], endpoint=SUPPRESSIONS_ENDPOINT)
    unsubscribe.process(desk, unsubscribe.Request(email="taro@example.jp"), actor=EDITOR)
    duty.start()
    try:
        duty.wake()
        assert wait_until(lambda: postmark.is_suppressed("taro@example.jp", "broadcast"))
    finally:
        duty.stop()
    assert postmark.is_suppressed("taro@example.jp", "broadcast")


# --- forget, resubscribe, find ---------------------------------------------------------


def test_forget_erases_the_person_but_keeps_the_address_suppressed(
    desk: Desk, postmark: PostmarkStandIn, tmp_path: Path
):
    add_subscriber(desk, "hanako@example.jp", name="山田花子", company="山田商事")
    add_subscriber(desk, "hanako@example.jp", list_name="Seminars", name="山田花子")
    unsubscribe.process(
        desk,
        unsubscribe.Request(email="hanako@example.jp", name="山田花子", company="山田商事"),
        actor=EDITOR,
    )
    gone = suppressions.forget(desk, "HANAKO@example.jp", actor=EDITOR)
    assert (gone.subscribers, gone.requests, gone.newly_suppressed) == (2, 1, False)
    with desk.db.sessions() as session:
        salt = address_salt(session)
        subs = session.execute(select(Subscriber.email, Subscriber.name, Subscriber.company)).all()
        assert subs == [(None, "", ""), (None, "", "")]
        supp = session.execute(select(Suppression)).scalar_one()
        assert supp.email is None and supp.email_hash == address_hash(salt, "hanako@example.jp")
        req = session.execute(select(UnsubscribeRequest)).scalar_one()
        assert (req.email, req.given_name, req.given_company, req.note) == (None, "", "", "")
        dump = json.dumps(
            [(e.subject, e.detail) for e in session.execute(select(AuditEvent)).scalars()],
            ensure_ascii=False,
        )
        actions = set(session.execute(select(AuditEvent.action)).scalars())
    assert "subscriber.forgotten" in actions
    for secret in ("hanako@example.jp", "山田花子", "山田商事"):
        assert secret not in dump
    csv = tmp_path / "again.csv"
    csv.write_text("email,name\nhanako@example.jp,山田花子\n", encoding="utf-8")
    report = import_csv(desk.db, csv, list_name="Newsletter", actor="cli", clock=desk.clock)
    assert (report.added, report.skipped_suppressed) == (0, 1)
    found = suppressions.find(desk, "hanako@example.jp", actor=EDITOR)
    assert found.subscribers == [] and found.requests == [] and found.suppressed_by_hash


def test_forget_waits_for_postmark_and_erases_nothing_until_then(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp", name="山田花子")
    postmark.faults.script(["503"], endpoint=SUPPRESSIONS_ENDPOINT)
    with pytest.raises(Refusal) as refused:
        suppressions.forget(desk, "hanako@example.jp", actor=EDITOR)
    assert refused.value.code == "forget_push_pending"
    with desk.db.sessions() as session:
        assert session.execute(select(Subscriber.email, Subscriber.name)).one() == (
            "hanako@example.jp",
            "山田花子",
        )
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]  # but it is suppressed
    suppressions.forget(desk, "hanako@example.jp", actor=EDITOR)
    assert statuses(desk, "hanako@example.jp") == []
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")


def test_resubscribe_needs_an_approver_and_a_reason(desk: Desk, postmark: PostmarkStandIn):
    add_subscriber(desk, "hanako@example.jp")
    unsubscribe.process(desk, unsubscribe.Request(email="hanako@example.jp"), actor=EDITOR)
    for actor, reason, code in (
        (EDITOR, "asked by phone", "resubscribe_not_approver"),
        (APPROVER, "  ", "resubscribe_needs_reason"),
    ):
        with pytest.raises(Refusal) as refused:
            suppressions.resubscribe(desk, "hanako@example.jp", actor=actor, reason=reason)
        assert refused.value.code == code
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]

    done = suppressions.resubscribe(
        desk, "hanako@example.jp", actor=APPROVER, reason="本人から再登録の依頼"
    )
    assert (done.subscribers, done.suppressions) == (1, 1)
    assert statuses(desk, "hanako@example.jp") == ["active"]
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")
    with desk.db.sessions() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "subscriber.resubscribed")
        ).scalar_one()
        assert event.actor == APPROVER and event.detail["reason"] == "本人から再登録の依頼"
    with pytest.raises(Refusal) as refused:
        suppressions.resubscribe(desk, "hanako@example.jp", actor=APPROVER, reason="again")
    assert refused.value.code == "not_suppressed"


def test_resubscribe_changes_nothing_when_postmark_cannot_lift_it(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp")
    unsubscribe.process(desk, unsubscribe.Request(email="hanako@example.jp"), actor=EDITOR)
    postmark.faults.script(["503"], endpoint="/message-streams/{stream}/suppressions/delete")
    with pytest.raises(Refusal) as refused:
        suppressions.resubscribe(desk, "hanako@example.jp", actor=APPROVER, reason="r")
    assert refused.value.code == "resubscribe_postmark"
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")


def test_a_spam_complaint_cannot_be_resubscribed(desk: Desk):
    with desk.db.transaction() as session:
        suppressions.add(
            session,
            email="angry@example.jp",
            reason=SuppressionReason.SPAM_COMPLAINT,
            origin=suppressions.SuppressionOrigin.POSTMARK_WEBHOOK,
            actor="postmark",
            at=desk.clock.now(),
            push_state=PushState.NOT_NEEDED,
        )
    with pytest.raises(Refusal) as refused:
        suppressions.resubscribe(desk, "angry@example.jp", actor=APPROVER, reason="r")
    assert refused.value.code == "resubscribe_spam_complaint"


def test_find_matches_names_companies_and_addresses_and_audits_no_text(desk: Desk):
    add_subscriber(desk, "hanako@example.jp", name="山田花子", company="山田商事")
    add_subscriber(desk, "taro@example.jp", name="鈴木太郎", company="鈴木_工業%")
    unsubscribe.process(
        desk,
        unsubscribe.Request(email="jiro@example.jp", name="佐藤次郎", company="山田商事"),
        actor=EDITOR,
    )
    found = suppressions.find(desk, "山田", actor=EDITOR)
    assert [s.email for s in found.subscribers] == ["hanako@example.jp"]
    assert [r.given_name for r in found.requests] == ["佐藤次郎"]
    assert [s.email for s in suppressions.find(desk, "TARO@", actor=EDITOR).subscribers] == [
        "taro@example.jp"
    ]
    # LIKE wildcards are literal.
    assert suppressions.find(desk, "_工業%", actor=EDITOR).subscriber_total == 1
    assert suppressions.find(desk, "%%", actor=EDITOR).subscriber_total == 0
    with pytest.raises(Refusal):
        suppressions.find(desk, "山", actor=EDITOR)
    with desk.db.sessions() as session:
        details = json.dumps(
            [
                e.detail
                for e in session.execute(
                    select(AuditEvent).where(AuditEvent.action == "subscribers.searched")
                ).scalars()
            ],
            ensure_ascii=False,
        )
    assert "山田" not in details and "taro" not in details


def test_overview_counts_states_and_push_progress(desk: Desk, postmark: PostmarkStandIn):
    add_subscriber(desk, "a@example.jp")
    add_subscriber(desk, "b@example.jp")
    add_subscriber(desk, "c@example.jp", list_name="Seminars")
    unsubscribe.process(desk, unsubscribe.Request(email="a@example.jp"), actor=EDITOR)
    postmark.faults.script(["503"], endpoint=SUPPRESSIONS_ENDPOINT)
    unsubscribe.process(desk, unsubscribe.Request(email="c@example.jp"), actor=EDITOR)
    suppressions.forget(desk, "a@example.jp", actor=EDITOR)
    view = suppressions.overview(desk)
    by_list = {c.list_name: (c.by_status, c.forgotten) for c in view.lists}
    assert by_list == {
        "Newsletter": ({"active": 1, "unsubscribed": 1}, 1),
        "Seminars": ({"unsubscribed": 1}, 0),
    }
    assert view.suppressions == 2 and view.by_reason == {"unsubscribed": 2}
    assert (view.push.pushed, view.push.pending) == (1, 1)
    assert view.push.last_error.startswith("FateUnknown")
    assert view.push.oldest_pending_at is not None
    assert ALL_LISTS == "*"
