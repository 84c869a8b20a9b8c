"""Postmark's suppression answers read fully (issue 14 item 7): each address's
`Status` of a push or a delete, Postmark's own reason behind a 406, and
suppressions that Postmark applies only some time after it answered."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import delivery, suppressions, unsubscribe
from bot.refusal import Refusal
from bot.standins.postmark import PostmarkStandIn
from storage.models import PushState, Suppression, SuppressionOrigin, SuppressionReason
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    ledger_rows,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import APPROVER, EDITOR
from tests.test_unsubscribe import add_subscriber, make_desk, statuses


@pytest.fixture
def desk(db, clock, postmark):
    return make_desk(db, clock, postmark)


def _row(desk, email: str) -> Suppression:
    with desk.db.sessions() as session:
        row = session.execute(select(Suppression).where(Suppression.email == email)).scalar_one()
        session.expunge(row)
        return row


def _local(desk, email: str, reason=SuppressionReason.UNSUBSCRIBED, **kw) -> None:
    with desk.db.transaction() as session:
        suppressions.add(
            session,
            email=email,
            reason=reason,
            origin=kw.pop("origin", SuppressionOrigin.SLACK),
            actor=EDITOR,
            at=desk.clock.now(),
            **kw,
        )


def _bounce_here_complaint_at_postmark(desk, postmark: PostmarkStandIn, email: str) -> None:
    """What a 406 left before its reason was learned: a hard bounce here, a
    spam complaint at Postmark."""
    _local(
        desk,
        email,
        SuppressionReason.HARD_BOUNCE,
        origin=SuppressionOrigin.POSTMARK_SEND,
        push_state=PushState.NOT_NEEDED,
    )
    postmark.suppress(email, stream="broadcast", reason="SpamComplaint")


def test_the_gateway_reads_each_addresss_status(desk, postmark: PostmarkStandIn):
    answers = desk.postmark.suppress(["hanako@example.jp", "not an address"], "broadcast")
    assert [(a.email, a.status, a.failed) for a in answers] == [
        ("hanako@example.jp", "Suppressed", False),
        ("not an address", "Failed", True),
    ]
    assert "invalid email address" in answers[1].message


def test_a_push_postmark_answers_failed_for_stays_pending_and_shows(desk, postmark):
    """One address of the chunk is refused by Postmark: the rest are pushed; it
    stays pending with Postmark's message (retried, shown in /newsletter
    subscribers), never recorded as pushed."""
    _local(desk, "hanako@example.jp")
    _local(desk, "taro@example.jp")
    with desk.db.transaction() as session:  # an address Postmark refuses
        session.execute(
            Suppression.__table__.update()
            .where(Suppression.email == "taro@example.jp")
            .values(email="taro(at)example.jp")
        )
    assert suppressions.push_pending(desk) == 1
    assert _row(desk, "hanako@example.jp").push_state == PushState.PUSHED
    refused = _row(desk, "taro(at)example.jp")
    assert refused.push_state == PushState.PENDING
    assert "Failed" in refused.push_error and "invalid email address" in refused.push_error
    assert refused.push_attempts == 1
    view = suppressions.overview(desk).push
    assert view.pending == 1 and "invalid email address" in view.last_error
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")


def test_a_reactivation_postmark_refuses_is_not_a_resubscribe(desk, postmark):
    """Recorded here as a hard bounce (a 406), a complaint at Postmark: its
    delete answers Failed, and nothing changes here."""
    add_subscriber(desk, "angry@example.jp")
    _bounce_here_complaint_at_postmark(desk, postmark, "angry@example.jp")
    with pytest.raises(Refusal) as refused:
        suppressions.resubscribe(desk, "angry@example.jp", actor=APPROVER, reason="asked")
    assert refused.value.code == "resubscribe_postmark"
    assert "authority" in str(refused.value.params["error"])
    assert statuses(desk, "angry@example.jp") == ["inactive"]
    assert _row(desk, "angry@example.jp").email == "angry@example.jp"


def test_a_406_records_postmarks_own_reason_so_a_complaint_is_never_resubscribable(
    db, postmark, clock
):
    from tests.fixtures.delivery import make_desk as delivery_desk

    desk = delivery_desk(db, postmark.url, clock)
    add_subscribers(desk, 30, emails=lambda i: f"r{i}@example.com")
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    # After the start's sync: Postmark has them as inactive, for its own reasons.
    postmark.suppress("r3@example.com", stream="broadcast", reason="SpamComplaint")
    postmark.suppress("r4@example.com", stream="broadcast", reason="HardBounce")
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    rows = {email: status for _, status, _, email in ledger_rows(desk, send_id)}
    assert rows["r3@example.com"] == rows["r4@example.com"] == "suppressed"
    assert _row(desk, "r3@example.com").reason == SuppressionReason.SPAM_COMPLAINT
    assert _row(desk, "r4@example.com").reason == SuppressionReason.HARD_BOUNCE
    desk.directory = make_desk(db, clock, postmark).directory  # an approver asks
    with pytest.raises(Refusal) as refused:
        suppressions.resubscribe(desk, "r3@example.com", actor=APPROVER, reason="asked")
    assert refused.value.code == "resubscribe_spam_complaint"


def test_the_sync_learns_the_reason_of_a_406_it_could_not_ask_at_once(desk, postmark):
    _bounce_here_complaint_at_postmark(desk, postmark, "angry@example.jp")
    suppressions.sync_from_postmark(desk)
    assert _row(desk, "angry@example.jp").reason == SuppressionReason.SPAM_COMPLAINT


def test_the_standin_applies_api_suppressions_after_its_lag(postmark: PostmarkStandIn, desk):
    postmark.suppression_lag = 0.5
    [answer] = desk.postmark.suppress(["hanako@example.jp"], "broadcast")
    assert answer.status == "Suppressed"
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")
    assert desk.postmark.dump_suppressions("broadcast") == []
    time.sleep(0.6)
    assert [e["EmailAddress"] for e in desk.postmark.dump_suppressions("broadcast")] == [
        "hanako@example.jp"
    ]
    [answer] = desk.postmark.unsuppress(["hanako@example.jp"], "broadcast")
    assert answer.status == "Deleted"
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")
    time.sleep(0.6)
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")


def test_nothing_is_lost_while_postmark_applies_suppressions_late(desk, postmark):
    """An unsubscribe pushed while Postmark has not applied it yet holds here;
    a resubscribe whose delete Postmark has not applied yet is not undone by a
    sync that still sees the old suppression in the dump."""
    postmark.suppression_lag = 1.0
    add_subscriber(desk, "hanako@example.jp")
    add_subscriber(desk, "taro@example.jp")
    unsubscribe.process(desk, unsubscribe.Request(email="taro@example.jp"), actor=EDITOR)
    suppressions.push_pending(desk)
    assert _row(desk, "taro@example.jp").push_state == PushState.PUSHED
    assert not postmark.is_suppressed("taro@example.jp", "broadcast")  # not yet applied
    suppressions.sync_from_postmark(desk)  # the dump does not show it yet: it still holds
    assert statuses(desk, "taro@example.jp") == ["unsubscribed"]
    # Hanako: suppressed at Postmark long ago, resubscribed here today.
    postmark.suppress("hanako@example.jp", stream="broadcast", reason="ManualSuppression")
    suppressions.sync_from_postmark(desk)
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]
    desk.clock.set(datetime.now(UTC))
    suppressions.resubscribe(desk, "hanako@example.jp", actor=APPROVER, reason="本人の依頼")
    assert postmark.is_suppressed("hanako@example.jp", "broadcast")  # the delete lags
    assert suppressions.sync_from_postmark(desk) == 0
    assert statuses(desk, "hanako@example.jp") == ["active"]
    time.sleep(1.1)
    assert not postmark.is_suppressed("hanako@example.jp", "broadcast")
    assert postmark.is_suppressed("taro@example.jp", "broadcast")
    suppressions.sync_from_postmark(desk)
    assert statuses(desk, "hanako@example.jp") == ["active"]
    assert statuses(desk, "taro@example.jp") == ["unsubscribed"]
