"""The kill switch stops every send that could go out (invariant 6), and an
approval is only good for starting until it expires.

Each test puts a send in one of the moments where it could still go out —
sending, waiting to start (Postmark's suppression dump failing), between the
approval's commit and the send's creation, scheduled, approved to resume,
between two attempts at a batch — presses halt, then does everything that
would start or continue it (the engine's own retries, the scheduler at the
due time, a late start call) and counts what reached the Postmark stand-in.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import approvals, delivery, issues, schedule
from bot.delivery_engine import EngineOptions
from storage.models import ApprovalRequest, ApprovalState, Issue, Send
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
from tests.fixtures.desk import APPROVER, APPROVER_2, EDITOR

DUMP = "/message-streams/{stream}/suppressions/dump"
# Long enough for several engine rounds and a retry of unstarted approvals (FAST).
IDLE = 2 * FAST.start_retry_seconds + 0.2


def _request(desk, request_id: int) -> ApprovalRequest:
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None
        session.expunge(request)
        return request


def _issue_state(desk, issue_id: int) -> str:
    with desk.db.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue.state


def _batched(desk) -> bool:
    return any(
        s == "batched" for send_id in _sends(desk) for _, s, _, _ in ledger_rows(desk, send_id)
    )


def _sends(desk) -> list[int]:
    with desk.db.sessions() as session:
        return list(session.execute(select(Send.id)).scalars())


def _scheduled_request(desk, at) -> int:
    saved = issues.create(
        desk, actor=EDITOR, subject="Scheduled news", body="Hello {{ subscriber.name }}."
    )
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR, scheduled_at=at)
    approvals.approve(desk, card.request_id, actor=APPROVER)
    return card.request_id


def test_halt_while_the_start_waits_for_postmarks_suppressions(db, postmark, clock):
    """The incident: the dump fails, the approved send waits to start, halt
    used to say "nothing is being sent" and then every message went out."""
    desk = make_desk(db, postmark.url, clock)
    desk.approval_listeners.append(delivery.approval_listener(desk))
    add_subscribers(desk, 100)
    postmark.faults.script(["503"] * 3, endpoint=DUMP)
    request_id = approved_request(desk)  # the listener tries to start it: the dump fails
    assert "send.start_failed" in desk.notifier.kinds()  # type: ignore[attr-defined]
    issue_id = _request(desk, request_id).issue_id
    assert _issue_state(desk, issue_id) == "approved"

    halted = delivery.halt_all(desk, actor=EDITOR)

    assert halted and halted.approved == (issue_id,) and halted.sends == ()
    assert halted.requests == (request_id,)
    assert _issue_state(desk, issue_id) == "halted"
    request = _request(desk, request_id)
    assert request.state == ApprovalState.VOID and request.decision_note == delivery.HALT_NOTE
    # Postmark recovers; the engine retries unstarted approvals; a late start call.
    with running(desk):
        assert delivery.start_approved(desk, request_id) is None
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []
    assert _sends(desk) == []
    voided = [n for n in desk.notifier.notices if n.kind == "approval.voided"]  # type: ignore[attr-defined]
    assert voided and voided[-1].params["reason"] == delivery.HALT_NOTE
    # No second "not sent" notice for what the kill switch already stopped.
    assert "send.refused" not in desk.notifier.kinds()  # type: ignore[attr-defined]


def test_halt_between_the_approval_and_the_start(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 40)
    request_id = approved_request(desk)  # committed; no listener has started it yet
    assert delivery.halt_all(desk, actor=EDITOR).approved
    assert delivery.start_approved(desk, request_id) is None
    with running(desk):
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []
    assert _sends(desk) == []


def test_halt_racing_the_start_either_halts_the_new_send_or_voids_its_approval(db, postmark, clock):
    """Halt and start at the same moment, many times: whichever wins, once
    halt_all has returned nothing is sending and the engine sends nothing."""
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 20)
    outcomes = set()
    for _ in range(12):
        request_id = approved_request(desk)
        barrier = threading.Barrier(2)
        started: list[int | None] = []

        def start(
            request_id: int = request_id,
            barrier: threading.Barrier = barrier,
            started: list[int | None] = started,
        ) -> None:
            barrier.wait()
            started.append(delivery.start_approved(desk, request_id))

        thread = threading.Thread(target=start)
        thread.start()
        barrier.wait()
        halted = delivery.halt_all(desk, actor=EDITOR)
        thread.join()
        with desk.db.sessions() as session:
            states = set(session.execute(select(Send.state)).scalars())
        assert "sending" not in states
        if started[0] is not None:
            assert started[0] in halted.send_ids
            outcomes.add("halted the send")
        else:
            assert _request(desk, request_id).state == ApprovalState.VOID
            outcomes.add("voided the approval")
        issue_id = _request(desk, request_id).issue_id
        assert _issue_state(desk, issue_id) == "halted"
    with running(desk):
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []
    assert outcomes  # which one wins depends on timing; both are safe


def test_halt_unschedules_and_the_scheduler_sends_nothing_at_the_time(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 30)
    at = clock.now() + timedelta(hours=3)
    request_id = _scheduled_request(desk, at)
    issue_id = _request(desk, request_id).issue_id
    assert _issue_state(desk, issue_id) == "scheduled"

    halted = delivery.halt_all(desk, actor=EDITOR)

    assert halted.scheduled == ((issue_id, at),) and not halted.approved
    clock.set(at)
    done = schedule.run_scheduled_sends(desk, delivery.start_approved)
    assert done == {"started": [], "missed": []}
    assert delivery.start_approved(desk, request_id) is None  # even when called directly
    assert postmark.messages(stream="broadcast") == []
    assert _issue_state(desk, issue_id) == "halted"


def test_a_halted_unstarted_issue_goes_out_only_after_a_new_approval(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 25)
    at = clock.now() + timedelta(hours=3)
    request_id = _scheduled_request(desk, at)
    issue_id = _request(desk, request_id).issue_id
    delivery.halt_all(desk, actor=EDITOR)
    # Resume of an issue that never started: a new request (preflight again).
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    assert card.kind == "send" and card.state == "open" and card.recipients == 25
    assert _issue_state(desk, issue_id) == "awaiting_approval"
    assert delivery.start_approved(desk, card.request_id) is None  # not approved yet
    approvals.approve(desk, card.request_id, actor=APPROVER_2)
    send_id = delivery.start_approved(desk, card.request_id)
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 25}


def test_halt_voids_an_approved_resume_that_has_not_continued(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 60)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    delivery.halt_all(desk, actor=EDITOR)  # before any batch
    issue_id = _request(desk, 1).issue_id
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    approvals.approve(desk, card.request_id, actor=APPROVER_2)  # no listener: not resumed yet
    halted = delivery.halt_all(desk, actor=EDITOR)
    assert halted.approved == (issue_id,) and halted.requests == (card.request_id,)
    assert delivery.start_approved(desk, card.request_id) is None
    assert send_state(desk, send_id) == "halted"
    with running(desk):
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []


def test_halt_during_a_retry_pause_stops_the_retry(db, postmark, clock):
    """A batch that Postmark rate-limits waits before its next attempt; a halt
    in that pause means the attempt is never made."""
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 50)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script(["429"], endpoint="/email/batch")
    slow_retry = EngineOptions(**{**FAST.__dict__, "backoff_initial": 1.0, "backoff_max": 1.0})
    with running(desk, slow_retry):
        wait_until(lambda: postmark.faults.calls("/email/batch") == 1)
        delivery.halt_all(desk, actor=EDITOR)
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
    assert postmark.faults.calls("/email/batch") == 1
    assert postmark.messages(stream="broadcast") == []
    assert {s for _, s, _, _ in ledger_rows(desk, send_id)} == {"pending"}


@pytest.mark.parametrize("moment", ["approved", "waiting", "scheduled", "sending"])
def test_after_halt_nothing_more_reaches_the_broadcast_stream(db, postmark, clock, moment):
    """Whatever the moment, what Postmark holds once the halt's in-flight
    batches landed never grows again, whatever starts or retries next."""
    desk = make_desk(db, postmark.url, clock)
    if moment != "approved":  # "approved": the click committed, the start not yet made
        desk.approval_listeners.append(delivery.approval_listener(desk))
    add_subscribers(desk, 300)
    postmark.latency = 0.05
    if moment == "waiting":  # until the halt: every start attempt fails
        postmark.faults.script(["503"] * 10_000, endpoint=DUMP)
    at = clock.now() + timedelta(minutes=5)
    request_id = _scheduled_request(desk, at) if moment == "scheduled" else approved_request(desk)
    with running(desk) as engine:
        if moment == "sending":
            wait_until(lambda: len(postmark.messages(stream="broadcast")) > 0)
        delivery.halt_all(desk, actor=EDITOR)
        postmark.faults.clear()  # Postmark is well again
        wait_until(lambda: not _batched(desk))
        landed = len(postmark.messages(stream="broadcast"))
        clock.set(at)
        schedule.run_scheduled_sends(desk, delivery.start_approved)
        delivery.start_approved(desk, request_id)
        engine.wake()
        time.sleep(IDLE)  # the engine's rounds, a start retry among them
    assert len(postmark.messages(stream="broadcast")) == landed
    assert (landed > 0) is (moment == "sending")
    assert landed < 300


# --- approvals expire for starting --------------------------------------------------------


def test_an_approval_that_expired_before_its_send_started_sends_nothing(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 30)
    postmark.faults.script(["503"], endpoint=DUMP)
    request_id = approved_request(desk)
    assert delivery.start_approved(desk, request_id) is None  # the dump failed
    request = _request(desk, request_id)
    clock.set(request.expires_at + timedelta(seconds=1))  # days later, Postmark is back
    assert delivery.start_approved(desk, request_id) is None
    assert postmark.messages(stream="broadcast") == []
    assert _request(desk, request_id).state == ApprovalState.EXPIRED
    assert _issue_state(desk, request.issue_id) == "draft"
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert refused[-1].params["code"] == "approval_expired"
    assert refused[-1].params["until"] == request.expires_at


def test_the_sweep_expires_an_approved_send_that_never_started(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 10)
    request_id = approved_request(desk)
    request = _request(desk, request_id)
    clock.set(request.expires_at - timedelta(seconds=1))
    assert approvals.expire_due(desk) == []
    clock.set(request.expires_at)
    (expired,) = approvals.expire_due(desk)
    assert expired.request_id == request_id and expired.state == "expired"
    assert _issue_state(desk, request.issue_id) == "draft"
    notice = [n for n in desk.notifier.notices if n.kind == "approval.expired"][-1]  # type: ignore[attr-defined]
    assert notice.params == {"approved": True}
    with running(desk):
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []


def test_a_started_send_is_not_expired_by_the_sweep(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 10)
    request_id = approved_request(desk)
    send_id = delivery.start_approved(desk, request_id)
    clock.advance(timedelta(days=3))
    assert approvals.expire_due(desk) == []
    assert _request(desk, request_id).state == ApprovalState.APPROVED
    assert send_state(desk, send_id) == "sending"


@pytest.mark.parametrize("late_minutes, starts", [(0, True), (60, True), (61, False)])
def test_a_scheduled_approval_holds_until_its_time_plus_the_grace(
    db, postmark, clock, late_minutes, starts
):
    desk = make_desk(db, postmark.url, clock, SCHEDULED_SEND_GRACE_MINUTES=60)
    add_subscribers(desk, 10)
    # Further ahead than the request's own expiry: the time decides, not the TTL.
    at = clock.now() + timedelta(days=5)
    request_id = _scheduled_request(desk, at)
    card = approvals.card(desk, request_id)
    assert card.start_by == at + timedelta(minutes=60)
    clock.set(at + timedelta(minutes=late_minutes))
    send_id = delivery.start_approved(desk, request_id)
    assert (send_id is not None) is starts
    if not starts:
        assert _request(desk, request_id).state == ApprovalState.EXPIRED
        assert _sends(desk) == []


def test_an_expired_resume_approval_continues_nothing(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 40)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    delivery.halt_all(desk, actor=EDITOR)
    issue_id = _request(desk, 1).issue_id
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    assert card.recipients == 40  # what remains of the send
    approvals.approve(desk, card.request_id, actor=APPROVER_2)
    clock.set(card.expires_at + timedelta(minutes=1))
    assert delivery.resume_approved(desk, card.request_id) is None
    assert _request(desk, card.request_id).state == ApprovalState.EXPIRED
    assert send_state(desk, send_id) == "halted"
    assert _issue_state(desk, issue_id) == "halted"
    with running(desk):
        time.sleep(IDLE)
    assert postmark.messages(stream="broadcast") == []


# --- honest counts after a halt -----------------------------------------------------------


def _ledger_counts(desk, send_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, status, _, _ in ledger_rows(desk, send_id):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_after_a_halt_the_channel_gets_the_real_counts_once_the_batches_landed(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, read_timeout=10.0)  # slow, never lost
    add_subscribers(desk, 1_000)
    postmark.latency = 1.0
    request_id = approved_request(desk)
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None
    try:
        with running(desk):
            wait_until(lambda: len(postmark.messages(stream="broadcast")) >= 100)
            # The next batch reaches Postmark and waits there until after the halt: a batch
            # is on its way at the halt, however slowly the machine runs (once it was not:
            # the batch seen on the wire had landed by the time the halt was counted).
            postmark.faults.script(["held"], endpoint="/email/batch")
            wait_until(lambda: postmark.faults.pending() == 0)
            wait_until(lambda: delivery.status(desk, send_id=send_id)[0].in_flight > 0)
            delivery.halt_all(desk, actor=EDITOR)
            postmark.faults.let_go()
            wait_until(lambda: "send.halt_settled" in desk.notifier.kinds())  # type: ignore[attr-defined]
            time.sleep(0.3)
    finally:
        postmark.faults.let_go()
    notices = desk.notifier.notices  # type: ignore[attr-defined]
    halted = next(n for n in notices if n.kind == "send.halted").params
    settled = [n for n in notices if n.kind == "send.halt_settled"]
    assert len(settled) == 1  # once, however many batches landed after the halt
    final = settled[0].params
    ledger = _ledger_counts(desk, send_id)
    # At the halt, what was on its way was counted apart, not as "not sent".
    assert halted["in_flight"] > 0, "premise: a batch was on its way at the halt"
    assert halted["pending"] == final["pending"] == ledger["pending"]
    assert final["sent"] == ledger["sent"] == len(postmark.messages(stream="broadcast"))
    assert final["sent"] == halted["sent"] + halted["in_flight"]
    assert final["in_flight"] == 0 and final["total"] == 1_000
    assert final["sent"] + final["pending"] == 1_000
    # The resume card offers what remains, not the list.
    issue_id = _request(desk, request_id).issue_id
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    assert card.recipients == ledger["pending"] < 1_000
    approvals.approve(desk, card.request_id, actor=APPROVER_2)
    assert delivery.resume_approved(desk, card.request_id) == send_id
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=90)
    summary = [n for n in desk.notifier.notices if n.kind == "send.finished"][-1].params  # type: ignore[attr-defined]
    ledger = _ledger_counts(desk, send_id)
    assert summary["sent"] == ledger["sent"] == 1_000
    assert summary["total"] == 1_000 and summary["remaining"] == 0
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 1_000}


def test_a_halt_with_nothing_on_its_way_settles_at_once(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 80)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    delivery.halt_all(desk, actor=EDITOR)  # before any batch
    halted = [n for n in desk.notifier.notices if n.kind == "send.halted"][-1].params  # type: ignore[attr-defined]
    assert (halted["sent"], halted["in_flight"], halted["pending"]) == (0, 0, 80)
