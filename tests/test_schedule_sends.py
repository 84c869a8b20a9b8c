"""Scheduled sends: on time, within the grace window after downtime, never
twice, and past the window a question in the channel instead of a stale send.

The delivery engine (issue 6) is a test double passed in: these tests
exercise the schedule's side only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import schedule
from bot.clock import FrozenClock
from bot.desk import Desk
from storage.db import Database
from storage.models import ApprovalRequest, ApprovalState, AuditEvent, Issue, OnceMarker
from tests.test_schedule import make_desk, notices, scheduled_issue

AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


class StartDouble:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail

    def __call__(self, desk: Desk, request_id: int) -> None:
        self.calls.append(request_id)
        if self.fail:
            raise RuntimeError("engine down")


@pytest.fixture
def setup(db: Database) -> tuple[Desk, FrozenClock, int, int]:
    clock = FrozenClock(AT - timedelta(days=2))
    desk = make_desk(db, clock)
    issue_id, request_id = scheduled_issue(desk, clock, AT)
    return desk, clock, issue_id, request_id


def test_waits_until_its_time_then_starts_once(setup, db: Database) -> None:
    desk, clock, _, request_id = setup
    start = StartDouble()
    clock.set(AT - timedelta(seconds=1))
    assert schedule.run_scheduled_sends(desk, start) == {"started": [], "missed": []}
    clock.set(AT)
    assert schedule.run_scheduled_sends(desk, start)["started"] == [request_id]
    # A second run, a restart (new desk) and a later run: no second start.
    clock.advance(timedelta(minutes=1))
    assert schedule.run_scheduled_sends(desk, start)["started"] == []
    again = make_desk(db, clock)
    assert schedule.run_scheduled_sends(again, start)["started"] == []
    assert start.calls == [request_id]


def test_after_downtime_within_grace_it_starts(setup) -> None:
    desk, clock, _, request_id = setup
    start = StartDouble()
    clock.set(AT + timedelta(minutes=59))
    assert schedule.run_scheduled_sends(desk, start)["started"] == [request_id]
    assert start.calls == [request_id]


def test_past_grace_it_asks_instead_of_sending(setup, db: Database) -> None:
    desk, clock, issue_id, request_id = setup
    start = StartDouble()
    clock.set(AT + timedelta(minutes=61))
    assert schedule.run_scheduled_sends(desk, start) == {"started": [], "missed": [request_id]}
    assert start.calls == []
    (notice,) = [n for n in notices(desk) if n.kind == "schedule.missed"]
    assert notice.issue_id == issue_id and notice.params["minutes_late"] == 61
    with db.sessions() as session:
        assert session.get(Issue, issue_id).state == "draft"  # type: ignore[union-attr]
        request = session.get(ApprovalRequest, request_id)
        assert request is not None and request.state == ApprovalState.VOID
        actions = session.execute(select(AuditEvent.action)).scalars().all()
    assert "schedule.missed" in actions
    # Asked once only, even after a restart.
    assert schedule.run_scheduled_sends(make_desk(db, clock), start)["missed"] == []
    assert [n.kind for n in notices(desk)].count("schedule.missed") == 1


def test_the_grace_window_is_a_setting(db: Database) -> None:
    clock = FrozenClock(AT - timedelta(days=1))
    desk = make_desk(db, clock, SCHEDULED_SEND_GRACE_MINUTES=5)
    _, request_id = scheduled_issue(desk, clock, AT)
    clock.set(AT + timedelta(minutes=6))
    assert schedule.run_scheduled_sends(desk, StartDouble())["missed"] == [request_id]


def test_a_failed_start_is_retried_while_in_grace(setup, db: Database) -> None:
    desk, clock, _, request_id = setup
    clock.set(AT)
    with pytest.raises(RuntimeError):
        schedule.run_scheduled_sends(desk, StartDouble(fail=True))
    with db.sessions() as session:
        assert session.get(OnceMarker, f"scheduled-send:{request_id}") is None
    start = StartDouble()
    clock.advance(timedelta(minutes=1))
    assert schedule.run_scheduled_sends(desk, start)["started"] == [request_id]
