"""The canary through the delivery engine and the Postmark stand-in, on the real
database: its size, nothing more during the hold, the rest afterwards (each
reader exactly once), the auto-halt on a bounce or complaint spike, "send the
rest now" for approvers only, and a restart during the hold."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot import approvals, audit, canary, delivery, issues, webhooks
from bot.approvals import CanaryPlan
from bot.clock import FrozenClock
from bot.desk import Desk
from bot.refusal import Refusal
from bot.standins.postmark import Outcomes, PostmarkStandIn
from storage.db import Database
from storage.models import Delivery, Send, SendStage, Subscriber
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import APPROVER, EDITOR

CANARY = {"CANARY_PERCENT": 10, "CANARY_HOLD_MINUTES": 30}


def _stage(desk: Desk, send_id: int) -> str:
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send.stage


def _canary_rows(desk: Desk, send_id: int) -> set[str]:
    with desk.db.sessions() as session:
        return set(
            session.execute(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.send_id == send_id, Delivery.wave == canary.CANARY_WAVE)
            ).scalars()
        )


def _broadcast_to(postmark: PostmarkStandIn) -> list[str]:
    return [m.Recipients[0] for m in postmark.messages(stream="broadcast") if m.Recipients]


def _started(
    db: Database, postmark: PostmarkStandIn, clock: FrozenClock, readers: int, **settings: object
) -> tuple[Desk, int]:
    desk = make_desk(db, postmark.url, clock, **{**CANARY, **settings})
    add_subscribers(desk, readers)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    return desk, send_id


def test_the_canary_goes_first_then_holds_then_the_rest_goes_each_reader_once(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 300)
    sample = _canary_rows(desk, send_id)
    assert len(sample) == 30
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        # Nothing more during the hold, however long the engine runs.
        time.sleep(0.6)
        assert sorted(_broadcast_to(postmark)) == sorted(sample)
        clock.advance(timedelta(minutes=29))
        time.sleep(0.4)
        assert len(_broadcast_to(postmark)) == 30
        clock.advance(timedelta(minutes=1, seconds=1))
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 300}
    kinds = desk.notifier.kinds()  # type: ignore[attr-defined]
    assert kinds.index("send.canary_hold") < kinds.index("send.canary_released")
    assert _stage(desk, send_id) == SendStage.REST


def test_each_send_draws_its_own_canary(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, **CANARY)
    add_subscribers(desk, 400)
    first = delivery.start_approved(desk, approved_request(desk))
    second = delivery.start_approved(desk, approved_request(desk, subject="Next month"))
    assert first is not None and second is not None
    one, two = _canary_rows(desk, first), _canary_rows(desk, second)
    assert len(one) == len(two) == 40
    # Two draws of 40 from 400 agree entirely with a chance far below 1e-50.
    assert one != two


def test_a_bounce_spike_in_the_canary_halts_the_send_before_the_rest(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 300)
    postmark.set_outcomes(Outcomes(hard_bounce=0.2))
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        assert postmark.wait_for_webhooks()
        for event in postmark.webhook_events:
            webhooks.handle(desk, event.payload)
        wait_until(lambda: send_state(desk, send_id) == "halted")
        clock.advance(timedelta(hours=2))  # the hold's end changes nothing now
        time.sleep(0.5)
    assert len(_broadcast_to(postmark)) == 30
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        # Halted at the bounce that crossed the limit (2 of 30 > 5 %), not later.
        assert (send.halted_by, send.halt_reason) == (
            audit.SYSTEM,
            "canary_bounces: 2/30 = 6.7 % > 5 %",
        )
    halted = [n for n in desk.notifier.notices if n.kind == "send.halted"]  # type: ignore[attr-defined]
    assert [n.params["reason"] for n in halted] == ["canary_bounces"]
    assert halted[0].params["pending"] == 270
    # The rest needs a new two-person approval.
    with pytest.raises(Refusal):
        canary.release_now(desk, send_id, actor=APPROVER)


def test_a_complaint_above_the_limit_halts_during_the_canary(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 1000, CANARY_HOLD_MINUTES=30)
    postmark.set_outcomes(Outcomes(complaint=0.01))
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        assert postmark.wait_for_webhooks()
        for event in postmark.webhook_events:
            webhooks.handle(desk, event.payload)
        wait_until(lambda: send_state(desk, send_id) == "halted")
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None and send.halt_reason.startswith("canary_complaints: 1/100")
    assert len(_broadcast_to(postmark)) == 100


def test_below_the_limits_the_hold_ends_by_itself(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 200)
    postmark.set_outcomes(Outcomes(hard_bounce=0.05))  # exactly 5 %: not above
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        assert postmark.wait_for_webhooks()
        for event in postmark.webhook_events:
            webhooks.handle(desk, event.payload)
        clock.advance(timedelta(minutes=31))
        wait_until(lambda: send_state(desk, send_id) == "finished")
    with desk.db.sessions() as session:
        assert canary.health(session, send_id).bounced == 1


def test_send_the_rest_now_is_for_approvers_only(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 100)
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        with pytest.raises(Refusal) as refused:
            canary.release_now(desk, send_id, actor=EDITOR)
        assert refused.value.code == "not_an_approver_rest"
        time.sleep(0.3)
        assert len(_broadcast_to(postmark)) == 10
        canary.release_now(desk, send_id, actor=APPROVER)
        wait_until(lambda: send_state(desk, send_id) == "finished")
        with pytest.raises(Refusal):
            canary.release_now(desk, send_id, actor=APPROVER)  # nothing is held any more
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 100}


def test_a_restart_during_the_hold_keeps_holding_and_sends_the_rest_once(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 150)
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
    # A new process: a new desk and engine on the same database.
    again = make_desk(db, postmark.url, clock, **CANARY)
    with running(again):
        time.sleep(0.5)
        assert len(_broadcast_to(postmark)) == 15
        assert _stage(again, send_id) == SendStage.HOLD
        clock.advance(timedelta(minutes=30))
        wait_until(lambda: send_state(again, send_id) == "finished")
    assert assert_exactly_once(again, postmark, send_id) == {"sent": 150}


def test_the_kill_switch_during_the_hold_keeps_the_rest_unsent(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 120)
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        halted = delivery.halt_all(desk, actor=EDITOR)
        assert halted.send_ids == [send_id]
        clock.advance(timedelta(hours=1))
        time.sleep(0.5)
        assert len(_broadcast_to(postmark)) == 12
        # A new two-person approval: the rest goes, none of the canary twice.
        card = approvals.request_resume(desk, _issue_of(desk, send_id), actor=EDITOR)
        approvals.approve(desk, card.request_id, actor=APPROVER)
        assert delivery.resume_approved(desk, card.request_id) == send_id
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 120}


def _issue_of(desk: Desk, send_id: int) -> int:
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send.issue_id


def test_canary_off_for_one_send_sends_everything_at_once(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, **CANARY)
    add_subscribers(desk, 60)
    saved = issues.create(desk, actor=EDITOR, subject="No canary", body="Hello")
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR, canary_percent=0)
    assert card.canary_size == 0
    approvals.approve(desk, card.request_id, actor=APPROVER)
    send_id = delivery.start_approved(desk, card.request_id)
    assert send_id is not None and _stage(desk, send_id) == SendStage.ALL
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 60}


@given(
    percent=st.floats(min_value=0, max_value=99.9, allow_nan=False),
    audience=st.integers(min_value=0, max_value=10**6),
)
def test_the_canary_size_is_a_real_share_or_nothing(percent: float, audience: int):
    size = CanaryPlan(percent, 30).size(audience)
    assert 0 <= size < max(audience, 1)
    if size:
        assert size >= audience * percent / 100 - 1e-6
        assert size <= audience * percent / 100 + 1
    elif percent > 0 and audience > 1:
        # Only a share that rounds up to everyone leaves nothing to hold back.
        assert audience * percent / 100 > audience - 1
