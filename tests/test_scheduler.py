"""The APScheduler side: real `BackgroundScheduler` threads and the
SQLAlchemy job store in the test database, with time moved by time-machine
(APScheduler reads the system clock; the desk here uses it too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from bot import scheduler
from bot.clock import FrozenClock, SystemClock
from bot.desk import Desk
from storage.db import Database
from tests.test_schedule import make_desk, notices, scheduled_issue

TOKYO = ZoneInfo("Asia/Tokyo")


def _poll(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class StartDouble:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, desk: Desk, request_id: int) -> None:
        self.calls.append(request_id)


def _runner(desk: Desk, start: StartDouble | None = None) -> scheduler.ScheduleRunner:
    return scheduler.ScheduleRunner(
        desk, start_send=start or StartDouble(), stalled_sends=lambda d, older: []
    )


def _reminders(desk: Desk) -> list[int]:
    return [n.params["days"] for n in notices(desk) if n.kind == "reminder"]


def test_reminder_fires_on_time_and_not_again_after_a_restart(db: Database) -> None:
    desk = make_desk(db, SystemClock())
    with time_machine.travel(datetime(2026, 11, 24, 9, 59, 59, tzinfo=TOKYO), tick=True):
        runner = _runner(desk)
        runner.start()
        try:
            assert runner.is_running
            store = SQLAlchemyJobStore(engine=db.engine)
            assert {j.id for j in store.get_all_jobs()} >= {
                "reminders",
                "scheduled-sends",
                "approval-expiry",
                "suppression-sync",
                "stalled-sends",
            }
            assert _poll(lambda: _reminders(desk) == [7])
        finally:
            runner.stop()
        # A restart the same day: the jobs are replaced, the start-up pass runs, no repeat.
        again = _runner(desk)
        again.start()
        try:
            assert _poll(lambda: store.lookup_job("reminders-at-start") is None)
            assert _reminders(desk) == [7]
        finally:
            again.stop()


def test_scheduled_send_after_downtime_within_grace_starts_at_startup(db: Database) -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO).astimezone(UTC)
    clock = FrozenClock(at - timedelta(days=1))
    _, request_id = scheduled_issue(make_desk(db, clock), clock, at)
    desk = make_desk(db, SystemClock())
    start = StartDouble()
    with time_machine.travel(at + timedelta(minutes=30), tick=True):
        runner = _runner(desk, start)
        runner.start()
        try:
            assert _poll(lambda: start.calls == [request_id])
        finally:
            runner.stop()


def test_scheduled_send_far_past_grace_asks_at_startup(db: Database) -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO).astimezone(UTC)
    clock = FrozenClock(at - timedelta(days=1))
    issue_id, _ = scheduled_issue(make_desk(db, clock), clock, at)
    desk = make_desk(db, SystemClock())
    start = StartDouble()
    with time_machine.travel(at + timedelta(hours=3), tick=True):
        runner = _runner(desk, start)
        runner.start()
        try:
            assert _poll(lambda: "schedule.missed" in [n.kind for n in notices(desk)])
        finally:
            runner.stop()
    assert start.calls == []
    (missed,) = [n for n in notices(desk) if n.kind == "schedule.missed"]
    assert missed.issue_id == issue_id


def test_a_scheduled_send_starts_at_its_minute_while_running(db: Database) -> None:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO).astimezone(UTC)
    clock = FrozenClock(at - timedelta(days=1))
    _, request_id = scheduled_issue(make_desk(db, clock), clock, at)
    desk = make_desk(db, SystemClock())
    start = StartDouble()
    with time_machine.travel(at - timedelta(seconds=2), tick=True):
        runner = _runner(desk, start)
        runner.start()
        try:
            time.sleep(0.5)
            assert start.calls == []  # not before its time
            assert _poll(lambda: start.calls == [request_id], timeout=10)
        finally:
            runner.stop()


def test_stalled_sends_are_reported_once_per_stall(db: Database) -> None:
    from storage.models import Issue, Send, SendState

    clock = FrozenClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    desk = make_desk(db, clock)
    at = clock.now() + timedelta(hours=1)
    issue_id, request_id = scheduled_issue(desk, clock, at)
    with db.transaction() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        send = Send(
            issue_id=issue_id,
            version_id=issue.current_version_id,
            approval_id=request_id,
            state=SendState.SENDING,
            created_at=clock.now(),
            started_at=clock.now(),
            last_progress_at=clock.now(),
        )
        session.add(send)
        session.flush()
        send_id = send.id
    clock.advance(timedelta(minutes=12))
    assert scheduler.watch_stalls(desk, lambda d, older: [send_id]) == [send_id]
    assert scheduler.watch_stalls(desk, lambda d, older: [send_id]) == []
    with db.transaction() as session:
        moved = session.get(Send, send_id)
        assert moved is not None
        moved.last_progress_at = clock.now()
    clock.advance(timedelta(minutes=12))
    assert scheduler.watch_stalls(desk, lambda d, older: [send_id]) == [send_id]
    assert [n.kind for n in notices(desk)].count("schedule.stalled") == 2


def test_suppression_sync_pushes_pending_when_the_unsubscribe_module_can(
    db: Database, monkeypatch
) -> None:
    from bot import suppressions

    desk = make_desk(db, FrozenClock())
    pushed: list[Desk] = []
    monkeypatch.setattr(suppressions, "sync_from_postmark", lambda d: 3)
    monkeypatch.setattr(suppressions, "push_pending", pushed.append, raising=False)
    assert scheduler.sync_suppressions(desk) == 3
    assert pushed == [desk]
