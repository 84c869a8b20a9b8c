"""The delivery engine against the Postmark stand-in, on the real database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from bot import approvals, delivery, suppressions
from bot.delivery_engine import EngineOptions
from bot.refusal import Refusal
from storage.models import (
    ApprovalRequest,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Issue,
    Subscriber,
    SubscriberStatus,
    SuppressionOrigin,
    SuppressionReason,
)
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    ledger_rows,
    make_desk,
    running,
    send_state,
    wait_until,
)


def test_an_approved_issue_reaches_every_recipient_once(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 230)
    request_id = approved_request(desk)
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    statuses = assert_exactly_once(desk, postmark, send_id)
    assert statuses == {"sent": 230}


# Settle past the longest fault below (latency:1.5 against a 1 s read timeout).
FAULTY = EngineOptions(**{**FAST.__dict__, "reconcile_window": 2.0})
FAULTS = ["429", "500", "503", "reset", "reply_lost", "reply_late", "latency:1.5"]


@pytest.mark.parametrize("fault", FAULTS)
def test_exactly_once_through_each_postmark_fault(db, postmark, clock, fault):
    desk = make_desk(db, postmark.url, clock, read_timeout=1.0)
    postmark.faults.late_reply_seconds = 1.5
    add_subscribers(desk, 160)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script([None, fault, fault, None, fault], endpoint="/email/batch")
    with running(desk, FAULTY):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=40)
    assert any(f.kind == fault for f in postmark.faults.applied)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 160}


def test_exactly_once_under_random_faults_with_a_seed(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, read_timeout=1.0)
    postmark.faults.late_reply_seconds = 1.2
    add_subscribers(desk, 400)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.randomly(
        0.4,
        ["429", "500", "503", "reset", "reply_lost", "reply_late"],
        seed=20261102,
        endpoint="/email/batch",
    )
    with running(desk, FAULTY):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert len(postmark.faults.applied) >= 3
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 400}


def test_an_unsettled_batch_stays_unknown_and_is_never_resent(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 30)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script(["reply_lost"], endpoint="/email/batch")
    postmark.faults.script(["503"] * 20, endpoint="/messages/outbound")
    with running(desk, FAULTY):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    statuses = {status for _, status, _, _ in ledger_rows(desk, send_id)}
    assert statuses == {"unknown"}
    # Postmark took the batch once (the reply was lost) and nothing was re-sent.
    assert len(postmark.messages(stream="broadcast")) == 30
    assert postmark.faults.calls("/email/batch") == 1
    unknown = [n for n in desk.notifier.notices if n.kind == "send.unknown"]  # type: ignore[attr-defined]
    assert unknown and unknown[0].params["count"] == 30


def test_per_message_errors_in_an_http_200_batch(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(
        desk, 40, emails=lambda i: f"bad address{i}@example.com" if i == 5 else f"r{i}@example.com"
    )
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    # Suppressed at Postmark after the start's sync: Postmark answers 406 for it.
    postmark.suppress("r7@example.com", stream="broadcast", reason="HardBounce")
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    rows = {email: status for _, status, _, email in ledger_rows(desk, send_id)}
    assert rows["r7@example.com"] == "suppressed"
    assert rows["bad address5@example.com"] == "invalid"
    assert assert_exactly_once(desk, postmark, send_id) == {
        "sent": 38,
        "suppressed": 1,
        "invalid": 1,
    }
    with desk.db.sessions() as session:
        by_email = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert by_email["r7@example.com"] == SubscriberStatus.INACTIVE
        assert by_email["bad address5@example.com"] == SubscriberStatus.INVALID
        assert suppressions.is_suppressed(session, "r7@example.com", "Newsletter")
    with desk.db.sessions() as session:
        failed = session.execute(
            select(Delivery.error_code).where(Delivery.status == DeliveryStatus.INVALID)
        ).scalar_one()
    assert failed == 300
    kinds = desk.notifier.kinds()  # type: ignore[attr-defined]
    assert "send.halted" not in kinds and "send.finished" in kinds


def test_a_suppression_added_mid_send_is_honoured_by_the_next_batch(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 800)
    # 16 batches, 3 in flight, 0.3 s each: the last batch is seconds away when
    # the suppression lands, even on a loaded machine.
    postmark.latency = 0.3
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: any(s == "sent" for _, s, _, _ in ledger_rows(desk, send_id)))
        with desk.db.transaction() as session:
            suppressions.add(
                session,
                email="reader799@example.com",
                reason=SuppressionReason.UNSUBSCRIBED,
                origin=SuppressionOrigin.SLACK,
                actor="U0EDITOR1",
                at=clock.now(),
            )
        assert postmark.messages_to("reader799@example.com") == []  # the premise: not yet sent
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert postmark.messages_to("reader799@example.com") == []
    statuses = assert_exactly_once(desk, postmark, send_id)
    assert statuses == {"sent": 799, "skipped": 1}


def test_halt_stops_before_the_next_batch_and_resume_continues_without_duplicates(
    db, postmark, clock
):
    desk = make_desk(db, postmark.url, clock)
    desk.approval_listeners.append(delivery.approval_listener(desk))
    add_subscribers(desk, 600)
    postmark.latency = 0.15
    request_id = approved_request(desk)  # the listener starts it
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None and request.send_id is not None
        send_id, issue_id = request.send_id, request.issue_id
    with running(desk) as engine:
        wait_until(lambda: any(s == "sent" for _, s, _, _ in ledger_rows(desk, send_id)))
        assert delivery.halt_all(desk, actor="U0EDITOR1").send_ids == [send_id]
        calls_at_halt = postmark.faults.calls("/email/batch")
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
        settled = postmark.faults.calls("/email/batch")
        # Only batches already on their way went out (in flight: at most in_flight).
        assert settled - calls_at_halt <= engine.in_flight
        engine.wake()
        wait_until(lambda: postmark.faults.calls("/email/batch") == settled, timeout=1)
    assert send_state(desk, send_id) == "halted"
    halted = assert_exactly_once(desk, postmark, send_id, allow_open=True)
    assert 0 < halted["sent"] < 600 and halted["pending"] > 0
    with desk.db.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.state == "halted"
    # Resume: a fresh two-person approval, then the same ledger continues.
    card = approvals.request_resume(desk, issue_id, actor="U0EDITOR1")
    with running(desk):
        approvals.approve(desk, card.request_id, actor="U0APPROV2")
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 600}
    assert "send.halted" in desk.notifier.kinds()  # type: ignore[attr-defined]
    assert "send.resumed" in desk.notifier.kinds()  # type: ignore[attr-defined]


def _change_request(desk, request_id: int, **values: object) -> None:
    """What happened to an approval request behind the engine's back."""
    with desk.db.transaction() as session:
        session.execute(
            update(ApprovalRequest).where(ApprovalRequest.id == request_id).values(**values)
        )


def test_refused_start_when_the_hash_no_longer_matches(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 20)
    request_id = approved_request(desk)
    _change_request(desk, request_id, content_hash="0" * 64)
    assert delivery.start_approved(desk, request_id) is None
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert refused and refused[0].params["code"] == "hash_mismatch"
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None and request.state == "void"
        assert session.execute(select(Delivery.id)).first() is None
        assert session.get(Issue, request.issue_id).state == "draft"  # type: ignore[union-attr]
    assert postmark.messages(stream="broadcast") == []


def test_refused_start_when_the_audience_drifted(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 100)
    request_id = approved_request(desk)
    add_subscribers(desk, 3, start=100)  # 3 % more than approved; 2 % allowed
    assert delivery.start_approved(desk, request_id) is None
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert refused[0].params["code"] == "audience_drift"
    assert refused[0].params["approved"] == 100 and refused[0].params["now"] == 103
    with desk.db.sessions() as session:
        assert session.execute(select(Delivery.id)).first() is None


def test_a_refused_start_is_said_once_however_many_attempts_follow(db, postmark, clock):
    """The approval's listener, the engine's retry and a second process may each
    try to start the same send; after the first is refused (the request voided),
    the others must not tell the channel a second, misleading reason ("the
    approval is not valid"). Found on PostgreSQL, where two attempts overlapped."""
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 100)
    request_id = approved_request(desk)
    add_subscribers(desk, 3, start=100)  # 3 % more than approved; 2 % allowed
    with ThreadPoolExecutor(max_workers=3) as pool:
        started = list(pool.map(lambda _: delivery.start_approved(desk, request_id), range(3)))
    assert delivery.start_approved(desk, request_id) is None  # and once more, afterwards
    assert started == [None, None, None]
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert [n.params["code"] for n in refused] == ["audience_drift"]
    with desk.db.sessions() as session:
        codes = session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "send.refused")
        ).scalars()
        assert [detail["code"] for detail in codes] == ["audience_drift"]


def test_a_request_that_was_never_approved_is_still_refused_as_not_valid(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 10)
    request_id = approved_request(desk)
    _change_request(desk, request_id, state="rejected")
    assert delivery.start_approved(desk, request_id) is None
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert [n.params["code"] for n in refused] == ["approval_not_valid"]


def test_drift_within_tolerance_starts(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 100)
    request_id = approved_request(desk)
    add_subscribers(desk, 2, start=100)
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None
    assert delivery.start_approved(desk, request_id) == send_id  # idempotent
    assert len(ledger_rows(desk, send_id)) == 102


def test_japanese_subject_and_body_arrive_byte_for_byte(db, postmark, clock):
    from bot import issues
    from bot.rendering import RecipientContext, render_message

    desk = make_desk(db, postmark.url, clock)
    add_subscribers(
        desk,
        3,
        names=lambda i: (
            ("山田花子", "株式会社サンプル"),
            ("佐藤 太郎", "例示工業"),
            ("Ümit", "Ça & Co <x>"),
        )[i],
    )
    subject = "【ニュースレター】11月号のお知らせ 🌸"
    body = (
        "{{ subscriber.name }} 様\n\nいつもありがとうございます。"
        "**今月の特集**：「東京」\n\n— 編集部"
    )
    send_id = delivery.start_approved(desk, approved_request(desk, subject=subject, body=body))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert_exactly_once(desk, postmark, send_id)
    with desk.db.sessions() as session:
        issue = session.get(Issue, 1)
        assert issue is not None
        version = issues.current_version(session, issue)
        compiled = issues.compiled_of(version)
        date = issues.issue_date(version, desk.settings.tz)
    for email, name, company in (
        ("reader0@example.com", "山田花子", "株式会社サンプル"),
        ("reader2@example.com", "Ümit", "Ça & Co <x>"),
    ):
        expected = render_message(compiled, RecipientContext(name, company, "Newsletter", date))
        (message,) = postmark.messages_to(email)
        assert message.Subject == expected.subject == subject
        assert message.TextBody is not None and message.HtmlBody is not None
        url = postmark.unsubscribe_url(message.MessageID)
        assert message.TextBody == expected.text.replace("{{{ pm:unsubscribe }}}", url)
        assert message.HtmlBody == expected.html.replace("{{{ pm:unsubscribe }}}", url)
        assert f"{name} 様" in message.TextBody


def test_circuit_breaker_halts_when_the_first_batches_fail(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(
        desk, 300, emails=lambda i: f"bad {i}@example.com" if i % 2 else f"r{i}@example.com"
    )
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "halted")
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
    halted = [n for n in desk.notifier.notices if n.kind == "send.halted"]  # type: ignore[attr-defined]
    assert halted[0].params["reason"] == "circuit_breaker"
    statuses = assert_exactly_once(desk, postmark, send_id, allow_open=True)
    assert statuses["pending"] > 0


def test_postmark_refusing_the_whole_batch_halts_without_failing_recipients(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 60)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.server_token = "another-token"
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "halted")
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
    assert {s for _, s, _, _ in ledger_rows(desk, send_id)} == {"pending"}
    halted = [n for n in desk.notifier.notices if n.kind == "send.halted"]  # type: ignore[attr-defined]
    assert halted[0].params["reason"] == "postmark_refused"


def test_the_engine_and_the_ledger_can_be_read_without_the_service():
    """Imports run one way: bot.delivery uses the engine and the ledger; neither
    of them imports bot.delivery, not even through another module."""
    import subprocess
    import sys

    for module in ("bot.delivery_engine", "bot.delivery_ledger"):
        code = f"import sys, {module}; print('bot.delivery' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "False", module


def test_a_sent_issue_cannot_be_submitted_again_and_the_refusal_says_what_to_do(
    db, postmark, clock
):
    from tests.fixtures.delivery import sent_issue

    desk = make_desk(db, postmark.url, clock)
    issue_id, _ = sent_issue(desk, 3)
    with pytest.raises(Refusal) as refused:
        approvals.submit(desk, issue_id, actor="U0EDITOR01")
    # Not "use resume": a sent issue has nothing to resume either.
    assert refused.value.code == "already_sent"
    assert refused.value.params == {"issue": issue_id, "state": "sent"}
